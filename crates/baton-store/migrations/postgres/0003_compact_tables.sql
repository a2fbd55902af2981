-- Fewer writes per commit:
-- - the thread's row records the last step committed to it, which replaces the unique index
--   on committed steps (0002): a commit already writes that row, and the lock on it is what
--   orders a commit and its retry. `completes_step` marks every step-completed episode again,
--   as in 0001: the run's log is where a commit looks when another run wrote the thread since;
-- - the runs table is written only when a run's state changes.

DROP INDEX episodes_committed_steps;

ALTER TABLE threads
    ADD COLUMN last_run  TEXT COLLATE "C",
    ADD COLUMN last_step BIGINT;

-- `last_seq` is now the episode that last changed the run's state. A run's episodes are
-- inserted in order (a statement inserts its rows by sequence number, and a later statement
-- numbers its rows after the earlier ones), so the latest episode still decides.
CREATE OR REPLACE FUNCTION episodes_track_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO runs (id, last_seq, finished)
    VALUES (NEW.run_id, NEW.seq, NEW.terminal)
    ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, finished = excluded.finished
    WHERE excluded.last_seq > runs.last_seq AND excluded.finished <> runs.finished;
    RETURN NULL;
END;
$$;
