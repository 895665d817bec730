-- A restart counts once a worker has taken it (docs/guarantees.md, "Crashes
-- and restarts"): a restart message still waiting in the queue when the
-- heartbeat goes stale again is sent again, uncounted. A worker frozen past
-- two sweeps while the pool is full thus costs the slice one restart, not two.
ALTER TABLE replay_slices ADD COLUMN restart_waiting BOOLEAN NOT NULL DEFAULT FALSE;
