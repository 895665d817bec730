-- When the restart still waiting was sent. This refines the rule of
-- 20261207000001: a restart waiting for a worker is not sent again at each
-- sweep; only one that has waited four stale periods (lost, or dead-lettered
-- before a worker took it) is counted and sent again, so MAX_SLICE_RESTARTS
-- still ends a slice no worker can take (docs/guarantees.md).
ALTER TABLE replay_slices ADD COLUMN restart_sent_at DATETIME(3) NULL;
