-- One row per login.
CREATE TABLE sessions (
    id         TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    -- NULL while the session is not revoked.
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- The hashes of a session's refresh tokens: the current one (spent_at
-- NULL) and those rotated away, kept to detect reuse.
CREATE TABLE refresh_tokens (
    hash       BYTEA       PRIMARY KEY,
    session_id TEXT        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
