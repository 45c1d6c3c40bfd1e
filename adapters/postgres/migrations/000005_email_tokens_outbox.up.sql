-- Email verification, account recovery and the mail outbox.

-- When the owner proved they read mail at users.email; NULL while not
-- verified (every account created before this migration). Adding a
-- nullable column without a default rewrites nothing.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- The hashes of single-use tokens sent by mail. A token is usable while
-- used_at is NULL and expires_at is later than now; issuing a new token of
-- a purpose marks the user's older ones of that purpose used.
CREATE TABLE email_tokens (
    hash       BYTEA       PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    -- The address a change_email token moves the account to.
    new_email  TEXT        CHECK (length(new_email) <= 254),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_tokens_user_id_purpose_idx ON email_tokens (user_id, purpose);

-- The transactional outbox: mail written with the change that causes it,
-- delivered afterwards by relays on any instance (Claim takes rows with
-- FOR UPDATE SKIP LOCKED and leases them). data is the template's data as
-- a JSON object in text; it can hold a link with a token, so it is cleared
-- ('{}') once the message is sent or failed, and the sweep deletes those
-- rows.
CREATE TABLE mail_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient       TEXT        NOT NULL,
    template        TEXT        NOT NULL,
    data            TEXT        NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- A relay's lease: no other relay claims the message before then.
    locked_until    TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    -- The last delivery error, at most 500 bytes; never a token.
    last_error      TEXT
);
-- Claim's scan: pending messages in due order.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
