-- Threads, their messages, and the episodic log of runs.
-- Identifiers are UUIDv7 in canonical text form: they sort by creation time.
-- Bodies are the JSON encoding of baton-core's `Message` and `Episode`, stored as text.

-- One row per thread; `len` is the number of messages, the version that compare-and-append
-- checks and advances.
CREATE TABLE threads (
    id  TEXT    NOT NULL PRIMARY KEY,
    len INTEGER NOT NULL CHECK (len >= 0)
);

CREATE TABLE messages (
    thread_id TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    body      TEXT    NOT NULL,
    PRIMARY KEY (thread_id, seq)
);

CREATE TABLE episodes (
    run_id         TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    at_ms          INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    -- The step a `step_completed` episode completes; NULL for every other kind.
    completes_step INTEGER,
    terminal       INTEGER NOT NULL CHECK (terminal IN (0, 1)),
    body           TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Finds a committed step without scanning the run's log.
CREATE INDEX episodes_completed_steps ON episodes (run_id, completes_step)
    WHERE completes_step IS NOT NULL;

-- One row per run: whether its latest episode ends it. Kept by the trigger below, in the
-- transaction of the insert, so it can never disagree with the log.
CREATE TABLE runs (
    id       TEXT    NOT NULL PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    -- Booleans are 0 or 1.
    finished INTEGER NOT NULL CHECK (finished IN (0, 1))
);

CREATE INDEX runs_unfinished ON runs (id) WHERE NOT finished;

CREATE TRIGGER episodes_track_run AFTER INSERT ON episodes
BEGIN
    INSERT INTO runs (id, last_seq, finished)
    VALUES (NEW.run_id, NEW.seq, NEW.terminal)
    ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, finished = excluded.finished
    WHERE excluded.last_seq > runs.last_seq;
END;
