-- One statement per write. Each statement sent to a SQLite connection is a round trip to the
-- connection's thread, and on a busy host it costs more than the statement itself; a step's
-- commit used to be five of them (BEGIN IMMEDIATE, extend the thread, insert the messages,
-- insert the episodes, COMMIT). Now the statement that extends the thread carries the write's
-- messages and episodes, as JSON arrays, in two columns of the thread's row, and the triggers
-- below insert them and clear the columns, in that statement: one call, one implicit
-- transaction (a statement and the triggers it fires commit or fail together).
--
-- A binary built before this migration refuses a database that has it (sqlx reports the
-- migration it does not know): upgrade every process sharing a file together.
--
-- `pending_messages`: the messages' JSON texts, as an array of strings, the last messages of
-- the thread. `pending_episodes`: the episodes of the step (of run `last_run`), each an array
-- [at_ms, kind, completes_step, terminal, body], numbered after the run's last episode, in
-- order (the trigger that tracks runs lets the latest episode decide).

ALTER TABLE threads ADD COLUMN pending_messages TEXT;
ALTER TABLE threads ADD COLUMN pending_episodes TEXT;

CREATE TRIGGER threads_extended_with_writes AFTER UPDATE OF len ON threads
WHEN NEW.pending_messages IS NOT NULL OR NEW.pending_episodes IS NOT NULL
BEGIN
    INSERT INTO messages (thread_id, seq, body)
    SELECT NEW.id, NEW.len - json_array_length(NEW.pending_messages) + m.key, m.value
    FROM json_each(NEW.pending_messages) AS m;
    INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body)
    SELECT NEW.last_run, next.seq + e.key, json_extract(e.value, '$[0]'),
           json_extract(e.value, '$[1]'), json_extract(e.value, '$[2]'),
           json_extract(e.value, '$[3]'), json_extract(e.value, '$[4]')
    FROM (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = NEW.last_run)
         AS next,
         json_each(NEW.pending_episodes) AS e
    ORDER BY e.key;
    UPDATE threads SET pending_messages = NULL, pending_episodes = NULL WHERE id = NEW.id;
END;

-- A thread created by a write: its creation counts as its first extension, so that one trigger
-- inserts what any write carries.
CREATE TRIGGER threads_created_with_writes AFTER INSERT ON threads
WHEN NEW.pending_messages IS NOT NULL OR NEW.pending_episodes IS NOT NULL
BEGIN
    UPDATE threads SET len = NEW.len WHERE id = NEW.id;
END;

-- A lease's release is one statement too: without a terminal episode, the lease's row is
-- deleted; with one, the statement that marks the row carries the episode (an array as above)
-- in `pending_terminal`, and the trigger records it in the run's log and deletes the row.
ALTER TABLE run_leases ADD COLUMN pending_terminal TEXT;

CREATE TRIGGER run_leases_released_with_terminal AFTER UPDATE OF pending_terminal ON run_leases
WHEN NEW.pending_terminal IS NOT NULL
BEGIN
    INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body)
    SELECT NEW.run_id, next.seq, json_extract(NEW.pending_terminal, '$[0]'),
           json_extract(NEW.pending_terminal, '$[1]'), json_extract(NEW.pending_terminal, '$[2]'),
           json_extract(NEW.pending_terminal, '$[3]'), json_extract(NEW.pending_terminal, '$[4]')
    FROM (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = NEW.run_id)
         AS next;
    DELETE FROM run_leases WHERE run_id = NEW.run_id;
END;

-- Taking a lease is one statement too: the insert says when it is taken (`taken_at_ms`), and
-- the trigger first deletes the expired leases that hold the run or the thread. The insert
-- itself runs only if no live lease holds either (its own condition), so a refusal deletes
-- nothing.
ALTER TABLE run_leases ADD COLUMN taken_at_ms INTEGER;

CREATE TRIGGER run_leases_replace_expired BEFORE INSERT ON run_leases
WHEN NEW.taken_at_ms IS NOT NULL
BEGIN
    DELETE FROM run_leases
    WHERE (run_id = NEW.run_id OR thread_id = NEW.thread_id)
      AND expires_at_ms <= NEW.taken_at_ms;
END;
