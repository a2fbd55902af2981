-- Writes that decide in SQL (see the engine's `commit` module): a write that extends a thread
-- leaves its token on the thread's row, and its later statements insert only if they find it.
ALTER TABLE threads ADD COLUMN extended_by TEXT COLLATE "C";

-- A step commits once. Only a step commit marks its step on an episode (`completes_step`), and
-- the index refuses a second mark, so a racing duplicate commit fails instead of writing the
-- step twice. Marks that episodes recorded outside a commit left (this store's first version
-- marked them too) are cleared, all but the first of each step.
UPDATE episodes SET completes_step = NULL
WHERE completes_step IS NOT NULL AND EXISTS (
    SELECT 1 FROM episodes AS earlier
    WHERE earlier.run_id = episodes.run_id
      AND earlier.completes_step = episodes.completes_step
      AND earlier.seq < episodes.seq
);
DROP INDEX episodes_completed_steps;
CREATE UNIQUE INDEX episodes_committed_steps ON episodes (run_id, completes_step)
    WHERE completes_step IS NOT NULL;
