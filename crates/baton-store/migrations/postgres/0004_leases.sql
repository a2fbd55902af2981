-- Run leases: who drives each run, and until when (see baton-core's `memory::lease`).
-- One row per leased run. `thread_id` is unique: one lease holds a thread at a time. A row
-- whose `expires_at_ms` has passed no longer holds its run or its thread, but stays the run's
-- current lease (its holder may still renew it, release it, or commit under it) until an
-- acquire of the run or of the thread deletes it, in the transaction that inserts the new one.
-- Times are milliseconds since the Unix epoch, by the server's clock, which every process that
-- shares the database reads alike.
CREATE TABLE run_leases (
    run_id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    thread_id     TEXT COLLATE "C" NOT NULL UNIQUE,
    owner         TEXT             NOT NULL,
    -- The fencing token of this taking: a UUID, fresh for each acquire.
    token         TEXT COLLATE "C" NOT NULL,
    expires_at_ms BIGINT           NOT NULL
);
