-- Rate-limit counters, shared by every instance on this database. A row
-- is one key's fixed window: count events since it opened, closing at
-- reset_at. Rows whose window closed are dead weight until the periodic
-- sweep (DELETE ... WHERE reset_at <= now) removes them.
CREATE TABLE rate_limits (
    key      TEXT        PRIMARY KEY,
    count    INTEGER     NOT NULL CHECK (count > 0),
    reset_at TIMESTAMPTZ NOT NULL
) WITH (fillfactor = 70); -- room on each page for HOT updates of count

-- For the sweep; a hit within a window changes only count, so it does not
-- touch this index and can stay a HOT update.
CREATE INDEX rate_limits_reset_at_idx ON rate_limits (reset_at);
