DROP TRIGGER IF EXISTS sessions_session_cache_delete;
DROP TRIGGER IF EXISTS sessions_session_cache_update;
DROP TRIGGER IF EXISTS users_session_cache_delete;
DROP TRIGGER IF EXISTS users_session_cache_update;
DROP TABLE IF EXISTS session_cache_epoch;
