// Package bcrypt implements ports.PasswordHasher with golang.org/x/crypto/bcrypt.
package bcrypt

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.PasswordHasher = (*Hasher)(nil)

// Cost bounds accepted by New.
const (
	MinCost     = bcrypt.MinCost
	MaxCost     = bcrypt.MaxCost
	DefaultCost = 12
)

// Hasher hashes with a fixed bcrypt cost through a bounded pool.
type Hasher struct {
	cost int
	pool *pool
	// inSlot, if set, runs while a worker slot is held, before the bcrypt
	// work; op is "hash" or "compare". Tests use it to hold workers busy.
	inSlot func(op string)
}

// New returns a hasher for cost, which must be within MinCost..MaxCost,
// with the default pool (see Pool).
func New(cost int) (*Hasher, error) { return NewWithPool(cost, Pool{}) }

// NewWithPool returns a hasher for cost whose work goes through a pool
// sized by p.
func NewWithPool(cost int, p Pool) (*Hasher, error) {
	if cost < MinCost || cost > MaxCost {
		return nil, fmt.Errorf("bcrypt: cost %d outside %d..%d", cost, MinCost, MaxCost)
	}
	if p.Workers < 0 || p.Queue < 0 || p.MaxWait < 0 {
		return nil, errors.New("bcrypt: negative pool setting")
	}
	return &Hasher{cost: cost, pool: newPool(p)}, nil
}

// Admit decides, before the request spends anything else, whether the
// pool takes its password work: by the same rule as a Hash or Compare
// without a reservation (the predicted start within MaxWait, the waiters
// within Queue), refusing with EUNAVAILABLE and the predicted time until
// there is room. Admitted, the request holds a place in the queue, so
// later arrivals are predicted to wait behind it, until its first Hash or
// Compare with the returned context (or one derived from it) takes the
// place over, or release gives it back. Those calls are not refused for
// load; MaxWait still bounds their wait. A context that already carries
// a reservation of this hasher is returned as it is, with a release that
// does nothing: the outer caller releases.
func (h *Hasher) Admit(ctx context.Context) (context.Context, func(), error) {
	if h.pool.reservationFrom(ctx) != nil {
		return ctx, func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, domain.Unavailable(err)
	}
	if err := h.pool.admit(); err != nil {
		return ctx, func() {}, err
	}
	r := &reservation{p: h.pool}
	return context.WithValue(ctx, reservationKey{}, r), r.free, nil
}

// Hash returns the bcrypt encoding of password. Passwords over 72 bytes are
// refused (the domain rejects them before this point), never truncated.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", domain.Unavailable(err)
	}
	if err := h.pool.acquire(ctx, h.pool.reservationFrom(ctx)); err != nil {
		return "", err
	}
	defer h.pool.release()
	start := h.pool.now()
	if h.inSlot != nil {
		h.inSlot("hash")
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: hash: %w", err)
	}
	h.pool.observe(h.pool.now().Sub(start))
	return string(b), nil
}

// Compare reports whether password matches hash, comparing the exact bytes
// received. A password longer than bcrypt's 72-byte limit can never have
// been stored, so it never matches.
func (h *Hasher) Compare(ctx context.Context, hash, password string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, domain.Unavailable(err)
	}
	if err := h.pool.acquire(ctx, h.pool.reservationFrom(ctx)); err != nil {
		return false, err
	}
	err := h.compare(hash, password)
	switch {
	case err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		// A malformed hash is an error whatever the password's length.
		return false, fmt.Errorf("bcrypt: compare: %w", err)
	case len(password) > domain.MaxPasswordBytes:
		// x/crypto's Compare silently uses only the first 72 bytes, so a
		// longer input whose prefix matches would pass. It still ran the
		// comparison above so the answer takes the usual time.
		return false, nil
	default:
		return err == nil, nil
	}
}

// compare runs one comparison in the worker slot acquire took, and
// releases it. A comparison against a hash at the configured cost is a
// sample of one hash's duration for the pool's prediction.
func (h *Hasher) compare(hash, password string) error {
	defer h.pool.release()
	start := h.pool.now()
	if h.inSlot != nil {
		h.inSlot("compare")
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if err == nil || errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		if cost, cerr := bcrypt.Cost([]byte(hash)); cerr == nil && cost == h.cost {
			h.pool.observe(h.pool.now().Sub(start))
		}
	}
	return err
}

// NeedsRehash reports whether hash was made with a cost other than the
// configured one, so raising AUTHD_BCRYPT_COST upgrades users as they log
// in. A hash it cannot read is not rehashed here: Compare reports it.
func (h *Hasher) NeedsRehash(hash string) bool {
	cost, err := bcrypt.Cost([]byte(hash))
	return err == nil && cost != h.cost
}

// Cheaper reports whether hash was made at a lower cost than the hasher's:
// each cost step doubles the work, so after AUTHD_BCRYPT_COST is raised an
// old hash checks many times faster than a new one.
func (h *Hasher) Cheaper(hash string) bool {
	cost, err := bcrypt.Cost([]byte(hash))
	return err == nil && cost < h.cost
}
