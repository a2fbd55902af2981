-- Threads, their messages, and the episodic log of runs.
-- Identifiers are UUIDv7 in canonical text form, compared bytewise (COLLATE "C") so that they
-- sort by creation time whatever the database's locale.
-- Bodies are the JSON encoding of baton-core's `Message` and `Episode`, stored as text: the
-- store never looks inside them, and `jsonb` would reject the `\u0000` escape that a message
-- may legitimately hold.

-- One row per thread; `len` is the number of messages, the version that compare-and-append
-- checks and advances (under the row lock).
CREATE TABLE threads (
    id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    len BIGINT           NOT NULL CHECK (len >= 0)
);

CREATE TABLE messages (
    thread_id TEXT COLLATE "C" NOT NULL,
    seq       BIGINT           NOT NULL,
    body      TEXT             NOT NULL,
    PRIMARY KEY (thread_id, seq)
);

CREATE TABLE episodes (
    run_id         TEXT COLLATE "C" NOT NULL,
    seq            BIGINT           NOT NULL,
    at_ms          BIGINT           NOT NULL,
    kind           TEXT             NOT NULL,
    -- The step a `step_completed` episode completes; NULL for every other kind.
    completes_step BIGINT,
    terminal       BOOLEAN          NOT NULL,
    body           TEXT             NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Finds a committed step without scanning the run's log.
CREATE INDEX episodes_completed_steps ON episodes (run_id, completes_step)
    WHERE completes_step IS NOT NULL;

-- One row per run: whether its latest episode ends it. Kept by the trigger below, in the
-- transaction of the insert, so it can never disagree with the log.
CREATE TABLE runs (
    id       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    last_seq BIGINT           NOT NULL,
    finished BOOLEAN          NOT NULL
);

CREATE INDEX runs_unfinished ON runs (id) WHERE NOT finished;

CREATE FUNCTION episodes_track_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO runs (id, last_seq, finished)
    VALUES (NEW.run_id, NEW.seq, NEW.terminal)
    ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, finished = excluded.finished
    WHERE excluded.last_seq > runs.last_seq;
    RETURN NULL;
END;
$$;

CREATE TRIGGER episodes_track_run AFTER INSERT ON episodes
    FOR EACH ROW EXECUTE FUNCTION episodes_track_run();
