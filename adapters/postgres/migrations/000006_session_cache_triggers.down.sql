DROP TRIGGER IF EXISTS sessions_session_cache_truncate ON sessions;
DROP TRIGGER IF EXISTS users_session_cache_truncate ON users;
DROP TRIGGER IF EXISTS sessions_session_cache_delete ON sessions;
DROP TRIGGER IF EXISTS sessions_session_cache ON sessions;
DROP TRIGGER IF EXISTS users_session_cache ON users;
DROP FUNCTION IF EXISTS authd_session_cache_notify_all();
DROP FUNCTION IF EXISTS authd_session_cache_notify_deleted();
DROP FUNCTION IF EXISTS authd_session_cache_notify();
