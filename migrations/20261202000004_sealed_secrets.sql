-- Webhook secrets at rest, envelope-encrypted under the KMS key
-- WEBHOOK_SECRETS_KEY_ID (docs/security.md, "Secrets at rest").
--
-- `secret` held the plaintext. It becomes nullable and stays only until
-- `replayctl migrate` seals what it holds (the sealing pass runs after these
-- statements, through KMS, and sets it to NULL in the same UPDATE). New
-- webhooks never write it.
--
-- A rotation moves the current sealed secret to `previous_secret_sealed`,
-- which signs deliveries beside the new one until `previous_secret_until`.
ALTER TABLE webhooks
    MODIFY secret VARCHAR(200) NULL,
    ADD COLUMN secret_sealed TEXT NULL,
    ADD COLUMN previous_secret_sealed TEXT NULL,
    ADD COLUMN previous_secret_until DATETIME(3) NULL;
