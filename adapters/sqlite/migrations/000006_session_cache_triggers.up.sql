-- Change feed for the session cache (adapters/sessioncache): every change
-- that can alter an authenticated request's session check (a users row
-- updated or deleted; a session revoked, re-dated, moved or deleted) bumps
-- one counter in the same transaction, whoever writes it: this process,
-- another one (the operator CLI) or a later code path. A process that
-- sees PRAGMA data_version change reads the counter and, when it moved,
-- forgets its cached sessions. The last_used_at touch and refresh-token
-- rotation do not bump it.
CREATE TABLE session_cache_epoch (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO session_cache_epoch (id, n) VALUES (1, 0);

CREATE TRIGGER users_session_cache_update AFTER UPDATE ON users
BEGIN
    UPDATE session_cache_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER users_session_cache_delete AFTER DELETE ON users
BEGIN
    UPDATE session_cache_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER sessions_session_cache_update
AFTER UPDATE OF id, user_id, expires_at, revoked_at ON sessions
BEGIN
    UPDATE session_cache_epoch SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER sessions_session_cache_delete AFTER DELETE ON sessions
BEGIN
    UPDATE session_cache_epoch SET n = n + 1 WHERE id = 1;
END;
