-- The log's index (docs/guarantees.md, "The log's index"). Expand only:
-- workers of the previous release read without it and leave the counters 0.
--
-- `records_skipped`: other webhooks' records a slice did not read, the index
-- showing its webhook had none there; `records_unindexed`: records it read
-- because the index did not cover them (the fallback to a full scan).
ALTER TABLE replay_slices
    ADD COLUMN records_skipped   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN records_unindexed BIGINT NOT NULL DEFAULT 0;

-- One row per segment of a partition: up to 64 blocks of up to 64 records,
-- each with every record's timestamp and the hashes of the webhook ids in it
-- (`blocks`, postcard-encoded: domain/log_index.rs). `last_record` and
-- `last_ts` are the segment's last record: the indexer checks the log still
-- holds it before going on (a topic recreated or truncated is indexed again).
-- Rows age out with the log's retention (the sweeper's indexer deletes what
-- ends before the partition's first retained offset).
CREATE TABLE log_index_segments (
    topic         VARCHAR(255) NOT NULL,
    partition_no  INT          NOT NULL,
    first_offset  BIGINT       NOT NULL,
    end_offset    BIGINT       NOT NULL,
    last_record   BIGINT       NOT NULL,
    last_ts       BIGINT       NOT NULL,
    records       INT          NOT NULL,
    min_ts        BIGINT       NOT NULL,
    max_ts        BIGINT       NOT NULL,
    blocks        MEDIUMBLOB   NOT NULL,
    written_at    DATETIME(3)  NOT NULL,
    PRIMARY KEY (topic, partition_no, first_offset),
    KEY log_index_segments_end (topic, partition_no, end_offset)
);
