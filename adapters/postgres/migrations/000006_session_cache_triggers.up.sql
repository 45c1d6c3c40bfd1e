-- Change feed for the session cache (adapters/sessioncache): every change
-- that can alter an authenticated request's session check (a users row
-- updated or deleted; a session revoked, re-dated, moved or deleted)
-- sends NOTIFY authd_session_cache, whoever writes it: any instance, the
-- operator CLI, a later code path. The payload is the user's id, or ''
-- for "forget everything". NOTIFY is delivered at commit, once per
-- distinct payload per transaction. The last_used_at touch and
-- refresh-token rotation send nothing.
CREATE FUNCTION authd_session_cache_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('authd_session_cache', OLD.id::text);
    ELSE
        PERFORM pg_notify('authd_session_cache', OLD.user_id::text);
    END IF;
    RETURN NULL;
END
$$;

-- Deleting sessions (the sweep, a user's cascade) flushes everything once
-- per statement that deleted any, instead of once per row.
CREATE FUNCTION authd_session_cache_notify_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM deleted_sessions) THEN
        PERFORM pg_notify('authd_session_cache', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION authd_session_cache_notify_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authd_session_cache', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_session_cache AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION authd_session_cache_notify();
CREATE TRIGGER sessions_session_cache
    AFTER UPDATE OF id, user_id, expires_at, revoked_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION authd_session_cache_notify();
CREATE TRIGGER sessions_session_cache_delete AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS deleted_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION authd_session_cache_notify_deleted();
CREATE TRIGGER users_session_cache_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION authd_session_cache_notify_all();
CREATE TRIGGER sessions_session_cache_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION authd_session_cache_notify_all();
