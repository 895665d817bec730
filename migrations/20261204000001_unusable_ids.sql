-- Events of the window whose event_id cannot be a webhook-id header: counted
-- apart from records that do not parse, because an event was lost and the job
-- ends INCOMPLETE (docs/delivery-log.md, "event_id"). Expand only: older
-- workers leave it 0.
ALTER TABLE replay_slices
    ADD COLUMN unusable_ids BIGINT NOT NULL DEFAULT 0;
