package bcrypt

import "time"

// SetInSlot makes h call f while it holds a worker slot, before the bcrypt
// work, so tests can keep workers busy for as long as they need.
func SetInSlot(h *Hasher, f func(op string)) { h.inSlot = f }

// SetClock makes h time its hashes with now, so a test decides how long
// each one took (by advancing now in the SetInSlot hook).
func SetClock(h *Hasher, now func() time.Time) { h.pool.now = now }

// HashEstimate is h's moving average of one hash's duration.
func HashEstimate(h *Hasher) time.Duration { return time.Duration(h.pool.avgNanos.Load()) }

// EffectivePool returns the pool settings h runs with, defaults applied.
func EffectivePool(h *Hasher) Pool {
	return Pool{Workers: cap(h.pool.slots), Queue: int(h.pool.queue), MaxWait: h.pool.maxWait}
}
