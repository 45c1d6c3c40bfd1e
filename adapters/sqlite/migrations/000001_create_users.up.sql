CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Stored normalized (trimmed, lower-cased); NOCASE guards the unique
    -- index against a writer that forgets to normalize.
    email         TEXT    NOT NULL COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    -- UTC, RFC 3339 with microseconds: 2026-01-02T03:04:05.123456Z
    created_at    TEXT    NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
