-- Session metadata for "your sessions" and the admin view.
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMPTZ;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_used_at SET NOT NULL;
-- The client's User-Agent (at most 256 bytes) and address at login.
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN client_ip  TEXT NOT NULL DEFAULT '';

-- The per-user session queries (list live sessions newest first, revoke
-- the oldest beyond a cap, last login) read a user's sessions in creation
-- order; this index replaces the plain user_id one.
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at);
DROP INDEX sessions_user_id_idx;

-- The admin list filters on an email prefix with lower(email) LIKE
-- 'prefix%'. users_email_key (lower(email), default operator class) can
-- serve that only under the C collation; text_pattern_ops can under any.
CREATE INDEX users_email_pattern_idx ON users (lower(email) text_pattern_ops);
