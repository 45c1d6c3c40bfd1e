package main

// sessionCache reads the size of the session cache (adapters/sessioncache):
// how many authenticated sessions are answered from memory; 0 turns the
// cache off, so every authenticated request asks the database.
func (e *envReader) sessionCache(db *databaseConfig) {
	db.SessionCacheSize = e.integer("AUTHD_SESSION_CACHE_SIZE", 10_000, 0, 10_000_000)
}
