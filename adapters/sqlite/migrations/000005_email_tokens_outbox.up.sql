-- Email verification, account recovery and the mail outbox.

-- When the owner proved they read mail at users.email; NULL while not
-- verified (every account created before this migration).
ALTER TABLE users ADD COLUMN email_verified_at TEXT;

-- The hashes of single-use tokens sent by mail. A token is usable while
-- used_at is NULL and expires_at is later than now; issuing a new token of
-- a purpose marks the user's older ones of that purpose used.
CREATE TABLE email_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    -- The address a change_email token moves the account to.
    new_email  TEXT,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT
);
CREATE INDEX email_tokens_user_id_purpose_idx ON email_tokens (user_id, purpose);

-- The transactional outbox: mail written with the change that causes it,
-- delivered afterwards by a relay. data is the template's data as a JSON
-- object; it can hold a link with a token, so it is cleared ('{}') once
-- the message is sent or failed, and the sweep deletes those rows.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient       TEXT    NOT NULL,
    template        TEXT    NOT NULL,
    data            TEXT    NOT NULL DEFAULT '{}',
    created_at      TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- A relay's lease: no other relay claims the message before then.
    locked_until    TEXT,
    sent_at         TEXT,
    failed_at       TEXT,
    -- The last delivery error, at most 500 bytes; never a token.
    last_error      TEXT
);
-- Claim's scan: pending messages in due order.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
