-- Expand only: the previous release runs against this schema unchanged
-- (docs/operations.md, "Migrations").
--
-- `partitions`: every partition the webhook's key lived in during the window
-- (a topic that gained partitions moves keys), read one after another.
-- `status_enqueued_at`: the status event's task was queued (the worker sends it).
ALTER TABLE replay_jobs
    ADD COLUMN partitions         VARCHAR(200) NULL,
    ADD COLUMN status_enqueued_at DATETIME(3)  NULL;

-- `planned_offsets`: per partition, the offsets of the slice's start and end
-- when the job was created, JSON [[partition, start, end], ...]: what
-- retention deleted before the slice read it is counted from them.
-- `paused_until`: a slice waiting out its receiver (circuit open) is not stale.
ALTER TABLE replay_slices
    ADD COLUMN planned_offsets  VARCHAR(2000) NULL,
    ADD COLUMN paused_until     DATETIME(3)   NULL,
    ADD COLUMN events_filtered  BIGINT        NOT NULL DEFAULT 0,
    ADD COLUMN records_expired  BIGINT        NOT NULL DEFAULT 0,
    ADD COLUMN clock_anomalies  BIGINT        NOT NULL DEFAULT 0;

-- Partition counts of the delivery log's topic with when each was first seen:
-- a window is read on every partition its key lived in.
CREATE TABLE topic_partition_counts (
    topic       VARCHAR(255) NOT NULL,
    partitions  INT          NOT NULL,
    seen_at     DATETIME(3)  NOT NULL,
    PRIMARY KEY (topic, partitions)
);
