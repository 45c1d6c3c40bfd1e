CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);
DROP INDEX IF EXISTS sessions_user_id_created_at_idx;
ALTER TABLE sessions DROP COLUMN client_ip;
ALTER TABLE sessions DROP COLUMN user_agent;
ALTER TABLE sessions DROP COLUMN last_used_at;
