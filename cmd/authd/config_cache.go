package main

// sessionCache reads the size of the session cache (adapters/sessioncache):
// how many authenticated sessions are answered from memory; 0 turns the
// cache off, so every authenticated request asks the database.
//
// On PostgreSQL it stays off for now: a NOTIFY reaches another instance's
// listener about a millisecond after the writer's commit, and a client
// that logs out through instance A and at once calls instance B wins that
// race (TestLogoutAcrossInstancesWithCache, TestInstancesShareUsersAndKeys
// fail with it on). The PostgreSQL feed itself is in place and tested.
func (e *envReader) sessionCache(db *databaseConfig) {
	db.SessionCacheSize = e.integer("AUTHD_SESSION_CACHE_SIZE", 10_000, 0, 10_000_000)
	if db.Driver == "postgres" {
		db.SessionCacheSize = 0
	}
}
