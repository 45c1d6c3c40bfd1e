package sessioncache

// ShardOf returns the index of the shard that holds sessionID, so a test
// can pick ids that compete for one shard's LRU slots.
func ShardOf(c *Cache, sessionID string) int {
	sh := c.shard(sessionID)
	for i := range c.shards {
		if sh == &c.shards[i] {
			return i
		}
	}
	panic("sessioncache: shard outside the cache")
}

// Shards is how many shards a cache spreads its entries over.
const Shards = shards
