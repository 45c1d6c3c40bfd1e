CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored normalized (trimmed, lower-cased); the unique index on
    -- lower(email) guards against a writer that forgets to normalize.
    email         TEXT        NOT NULL CHECK (length(email) <= 254),
    password_hash TEXT        NOT NULL,
    is_active     BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
