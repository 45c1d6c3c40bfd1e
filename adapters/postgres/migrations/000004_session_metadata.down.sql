DROP INDEX IF EXISTS users_email_pattern_idx;
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);
DROP INDEX IF EXISTS sessions_user_id_created_at_idx;
ALTER TABLE sessions DROP COLUMN IF EXISTS client_ip;
ALTER TABLE sessions DROP COLUMN IF EXISTS user_agent;
ALTER TABLE sessions DROP COLUMN IF EXISTS last_used_at;
