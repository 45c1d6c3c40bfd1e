-- Session metadata for "your sessions" and the admin view.
--
-- ADD COLUMN ... NOT NULL needs a default; '' is never read back: every
-- existing row is backfilled below and the adapter always writes the
-- column.
ALTER TABLE sessions ADD COLUMN last_used_at TEXT NOT NULL DEFAULT '';
UPDATE sessions SET last_used_at = created_at;
-- The client's User-Agent (at most 256 bytes) and address at login.
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN client_ip  TEXT NOT NULL DEFAULT '';

-- The per-user session queries (list live sessions newest first, revoke
-- the oldest beyond a cap, last login) read a user's sessions in creation
-- order; this index replaces the plain user_id one.
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at);
DROP INDEX sessions_user_id_idx;

-- No index for the admin list's email prefix: users_email_key (email
-- COLLATE NOCASE) already serves "email >= ? AND email < ?" range scans
-- (adapters/sqlite TestListUsesEmailIndex checks the plan).
