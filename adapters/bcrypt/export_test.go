package bcrypt

// SetInSlot makes h call f while it holds a worker slot, before the bcrypt
// work, so tests can keep workers busy for as long as they need.
func SetInSlot(h *Hasher, f func(op string)) { h.inSlot = f }

// EffectivePool returns the pool settings h runs with, defaults applied.
func EffectivePool(h *Hasher) Pool {
	return Pool{Workers: cap(h.pool.slots), Queue: int(h.pool.queue), MaxWait: h.pool.maxWait}
}
