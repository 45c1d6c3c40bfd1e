-- One row per login. Timestamps are UTC text in the users.created_at
-- layout (2026-01-02T03:04:05.123456Z), fixed width, so they compare as
-- strings.
CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    -- NULL while the session is not revoked.
    revoked_at TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- The hashes of a session's refresh tokens: the current one (spent_at
-- NULL) and those rotated away, kept to detect reuse.
CREATE TABLE refresh_tokens (
    hash       BLOB NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  TEXT NOT NULL,
    spent_at   TEXT
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
