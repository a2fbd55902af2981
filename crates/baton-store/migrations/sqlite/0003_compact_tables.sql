-- Fewer pages per commit. With the WAL, every page a commit changes is written whole (and
-- copied again by the next checkpoint), so:
-- - the thread's row records the last step committed to it, which replaces the unique index
--   on committed steps (0002): a commit already writes that row, and the lock on it is what
--   orders a commit and its retry. `completes_step` marks every step-completed episode again,
--   as in 0001: the run's log is where a commit looks when another run wrote the thread since;
-- - the tables keyed by text are WITHOUT ROWID: the key is the table, instead of a table plus
--   an index on the key. `messages` keeps its rowid: its bodies are often longer than a
--   WITHOUT ROWID row keeps in its page;
-- - the runs table is written only when a run's state changes.

DROP TRIGGER episodes_track_run;
DROP INDEX episodes_committed_steps;

CREATE TABLE threads_compact (
    id          TEXT    NOT NULL PRIMARY KEY,
    len         INTEGER NOT NULL CHECK (len >= 0),
    extended_by TEXT,
    -- The step last committed to the thread: its run and number.
    last_run    TEXT,
    last_step   INTEGER
) WITHOUT ROWID;
INSERT INTO threads_compact (id, len, extended_by) SELECT id, len, extended_by FROM threads;
DROP TABLE threads;
ALTER TABLE threads_compact RENAME TO threads;

CREATE TABLE episodes_compact (
    run_id         TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    at_ms          INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    completes_step INTEGER,
    terminal       INTEGER NOT NULL CHECK (terminal IN (0, 1)),
    body           TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
INSERT INTO episodes_compact (run_id, seq, at_ms, kind, completes_step, terminal, body)
    SELECT run_id, seq, at_ms, kind, completes_step, terminal, body FROM episodes;
DROP TABLE episodes;
ALTER TABLE episodes_compact RENAME TO episodes;

CREATE TABLE runs_compact (
    id       TEXT    NOT NULL PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    finished INTEGER NOT NULL CHECK (finished IN (0, 1))
) WITHOUT ROWID;
INSERT INTO runs_compact (id, last_seq, finished) SELECT id, last_seq, finished FROM runs;
DROP TABLE runs;
ALTER TABLE runs_compact RENAME TO runs;
CREATE INDEX runs_unfinished ON runs (id) WHERE NOT finished;

-- `last_seq` is now the episode that last changed the run's state. A run's episodes are
-- inserted in order (a statement inserts its rows by sequence number, and a later statement
-- numbers its rows after the earlier ones), so the latest episode still decides.
CREATE TRIGGER episodes_track_run AFTER INSERT ON episodes
BEGIN
    INSERT INTO runs (id, last_seq, finished)
    VALUES (NEW.run_id, NEW.seq, NEW.terminal)
    ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, finished = excluded.finished
    WHERE excluded.last_seq > runs.last_seq AND excluded.finished <> runs.finished;
END;
