package http_test

// This file holds the test harness: small in-memory fakes of the ports
// (the architecture forbids importing another adapter, so no sqlite, bcrypt
// or jwt here), a builder for the real Fiber app, and request helpers.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// t0 is the fake clock's starting time.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tokenTTL matches the production default (expires_in 86400).
const tokenTTL = 24 * time.Hour

// sessionTTL and reuseGrace are app's defaults, which the harness uses
// unless an option says otherwise.
const (
	sessionTTL = app.DefaultSessionTTL
	reuseGrace = app.DefaultReuseGrace
)

// ---------------------------------------------------------------- fakes

// observation is one call of Config.Observe.
type observation struct {
	method, route string
	status        int
}

// fakeMetrics stands in for adapters/metrics: it records every
// observation and serves them, one line each, as Prometheus text.
type fakeMetrics struct {
	mu  sync.Mutex
	obs []observation
}

func (m *fakeMetrics) observe(method, route string, status int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Fiber's strings point into buffers it reuses: copy them, as
	// adapters/metrics does by folding them to constants.
	m.obs = append(m.obs, observation{strings.Clone(method), strings.Clone(route), status})
}

func (m *fakeMetrics) observed() []observation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.obs)
}

// count is how many observations equal o.
func (m *fakeMetrics) count(o observation) int {
	n := 0
	for _, x := range m.observed() {
		if x == o {
			n++
		}
	}
	return n
}

func (m *fakeMetrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintf(w, "# TYPE fake_observations_total counter\nfake_observations_total %d\n", len(m.observed()))
}

// fakeUsers is an in-memory ports.UserRepository. It hands out copies so a
// test mutating its own *domain.User cannot reach the store, and counts
// calls so tests can assert that nothing was read or written.
type fakeUsers struct {
	mu      sync.Mutex
	byID    map[int64]*domain.User
	nextID  int64
	err     error  // when set, every method returns it
	panicky string // when set, every method panics with it
	creates atomic.Int64
	reads   atomic.Int64
}

var _ ports.UserRepository = (*fakeUsers)(nil)

func newFakeUsers() *fakeUsers { return &fakeUsers{byID: map[int64]*domain.User{}} }

func cloneUser(u *domain.User) *domain.User {
	return domain.RehydrateUser(u.ID(), u.Email().String(), u.PasswordHash(), u.IsActive(), u.CreatedAt()).WithEmailVerifiedAt(u.EmailVerifiedAt())
}

func (f *fakeUsers) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicky != "" {
		panic(f.panicky)
	}
	return f.err
}

func (f *fakeUsers) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeUsers) setPanic(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.panicky = msg
}

func (f *fakeUsers) Create(_ context.Context, u *domain.User) (*domain.User, error) {
	f.creates.Add(1)
	if err := f.fail(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.byID {
		if v.Email() == u.Email() {
			return nil, domain.ErrEmailTaken
		}
	}
	f.nextID++
	stored := domain.RehydrateUser(f.nextID, u.Email().String(), u.PasswordHash(), u.IsActive(), u.CreatedAt())
	f.byID[stored.ID()] = stored
	return cloneUser(stored), nil
}

// update is every write to one stored user: it counts the write, fails
// as configured, and replaces user id with change's result (ENOTFOUND for
// an unknown id).
func (f *fakeUsers) update(id int64, change func(u *domain.User) (*domain.User, error)) error {
	f.creates.Add(1)
	if err := f.fail(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.byID[id]
	if !ok {
		return domain.ErrUserNotFound
	}
	next, err := change(u)
	if err != nil {
		return err
	}
	f.byID[id] = next
	return nil
}

// with is u with another email, hash and active flag; everything else,
// the verification time included, kept.
func with(u *domain.User, email, hash string, active bool) *domain.User {
	return domain.RehydrateUser(u.ID(), email, hash, active, u.CreatedAt()).WithEmailVerifiedAt(u.EmailVerifiedAt())
}

func (f *fakeUsers) UpdatePasswordHash(_ context.Context, id int64, hash string) error {
	return f.update(id, func(u *domain.User) (*domain.User, error) {
		return with(u, u.Email().String(), hash, u.IsActive()), nil
	})
}

func (f *fakeUsers) ByID(_ context.Context, id int64) (*domain.User, error) {
	f.reads.Add(1)
	if err := f.fail(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.byID[id]; ok {
		return cloneUser(u), nil
	}
	return nil, domain.ErrUserNotFound
}

func (f *fakeUsers) ByEmail(_ context.Context, email domain.Email) (*domain.User, error) {
	f.reads.Add(1)
	if err := f.fail(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.byID {
		if u.Email() == email {
			return cloneUser(u), nil
		}
	}
	return nil, domain.ErrUserNotFound
}

// deactivate marks the stored user with that email inactive.
func (f *fakeUsers) deactivate(t *testing.T, email string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.byID {
		if u.Email().String() == email {
			u.Deactivate()
			return
		}
	}
	t.Fatalf("deactivate: no user %q", email)
}

// remove deletes the stored user with that id.
func (f *fakeUsers) remove(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
}

func (f *fakeUsers) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byID)
}

// fakeHasher is a fast, deterministic ports.PasswordHasher whose output
// does not contain the password, so a log test can look for either. It
// counts Hash and Compare calls, so a test can tell whether a password was
// checked at all.
type fakeHasher struct {
	hashes, compares atomic.Int64
	admits           atomic.Int64
	mu               sync.Mutex
	err              error // when set, Hash and Compare return it
	admitErr         error // when set, Admit refuses with it (see admission_test.go)
}

// setErr makes Hash and Compare fail with err (nil: work again).
func (h *fakeHasher) setErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

func (h *fakeHasher) fail() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

var _ ports.PasswordHasher = (*fakeHasher)(nil)

func fakeHash(password string) string {
	sum := sha256.Sum256([]byte("authd-test-pepper:" + password))
	return "$fake$" + hex.EncodeToString(sum[:])
}

func (h *fakeHasher) Hash(_ context.Context, password string) (string, error) {
	h.hashes.Add(1)
	if err := h.fail(); err != nil {
		return "", err
	}
	return fakeHash(password), nil
}

func (h *fakeHasher) Compare(_ context.Context, hash, password string) (bool, error) {
	h.compares.Add(1)
	if err := h.fail(); err != nil {
		return false, err
	}
	return hmac.Equal([]byte(hash), []byte(fakeHash(password))), nil
}

func (h *fakeHasher) NeedsRehash(hash string) bool { return false }
func (h *fakeHasher) Cheaper(hash string) bool     { return false }

// fakeTokens is a JWT-shaped HMAC token issuer: header.payload.signature,
// each base64url. It checks the signature and the expiry, so tampered and
// expired tokens are rejected exactly as the port promises.
type fakeTokens struct {
	key []byte
	n   atomic.Int64
}

var _ ports.TokenIssuer = (*fakeTokens)(nil)

type fakeClaims struct {
	Sub int64  `json:"sub"`
	Sid string `json:"sid"`
	// EmailVerified is always present, as in the real tokens.
	EmailVerified bool   `json:"email_verified"`
	Iat           int64  `json:"iat"`
	Exp           int64  `json:"exp"`
	Jti           string `json:"jti"`
}

var b64 = base64.RawURLEncoding

func (f *fakeTokens) sign(s string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(s))
	return b64.EncodeToString(m.Sum(nil))
}

func (f *fakeTokens) Issue(sub ports.AccessSubject, now, notAfter time.Time) (ports.AccessToken, error) {
	exp := now.Add(tokenTTL)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	if exp.Sub(now) < time.Second {
		return ports.AccessToken{}, domain.ErrSessionEnded
	}
	c := fakeClaims{Sub: sub.UserID, Sid: sub.SessionID, EmailVerified: sub.EmailVerified, Iat: now.Unix(), Exp: exp.Unix(), Jti: strconv.FormatInt(f.n.Add(1), 10)}
	p, _ := json.Marshal(c)
	unsigned := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64.EncodeToString(p)
	return ports.AccessToken{Token: unsigned + "." + f.sign(unsigned), ExpiresIn: exp.Sub(now)}, nil
}

func (f *fakeTokens) Verify(token string, now time.Time) (ports.AccessClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ports.AccessClaims{}, domain.ErrInvalidToken
	}
	if !hmac.Equal([]byte(parts[2]), []byte(f.sign(parts[0]+"."+parts[1]))) {
		return ports.AccessClaims{}, domain.ErrInvalidToken
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return ports.AccessClaims{}, domain.ErrInvalidToken
	}
	var c fakeClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return ports.AccessClaims{}, domain.ErrInvalidToken
	}
	if !now.Before(time.Unix(c.Exp, 0)) || c.Sid == "" {
		return ports.AccessClaims{}, domain.ErrInvalidToken
	}
	return ports.AccessClaims{UserID: c.Sub, SessionID: c.Sid, EmailVerified: c.EmailVerified, TokenID: c.Jti, IssuedAt: time.Unix(c.Iat, 0).UTC(), ExpiresAt: time.Unix(c.Exp, 0).UTC()}, nil
}

// fakeSessions is an in-memory ports.SessionRepository with the documented
// semantics: Rotate is conditional and atomic (one mutex), ActiveUser is the
// session-to-user join. The user side of that join, and the foreign key
// Create checks, go through users, so a users outage is a sessions outage
// too, as it is for one database.
type fakeSessions struct {
	mu       sync.Mutex
	users    ports.UserRepository
	sessions map[string]*fakeSession
	tokens   map[string]*fakeRefresh // by string(hash)
	err      error                   // when set, every method returns it
	calls    atomic.Int64            // every method call
}

type fakeSession struct {
	userID               int64
	createdAt, expiresAt time.Time
	revokedAt            time.Time
	lastUsedAt           time.Time
	userAgent, client    string
}

type fakeRefresh struct {
	sessionID string
	spentAt   time.Time
}

var _ ports.SessionRepository = (*fakeSessions)(nil)

func newFakeSessions(users ports.UserRepository) *fakeSessions {
	return &fakeSessions{users: users, sessions: map[string]*fakeSession{}, tokens: map[string]*fakeRefresh{}}
}

func (f *fakeSessions) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// begin counts the call, locks, and returns the injected error if any; the
// caller must unlock.
func (f *fakeSessions) begin() error {
	f.calls.Add(1)
	f.mu.Lock()
	return f.err
}

func (s *fakeSession) liveAt(now time.Time) bool {
	return s.revokedAt.IsZero() && now.Before(s.expiresAt)
}

func (f *fakeSessions) state(t *fakeRefresh) ports.RefreshTokenState {
	s := f.sessions[t.sessionID]
	return ports.RefreshTokenState{
		Session: s.session(t.sessionID),
		SpentAt: t.spentAt,
	}
}

func (f *fakeSessions) Create(ctx context.Context, s *domain.Session, tokenHash []byte) error {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	if _, err := f.users.ByID(ctx, s.UserID()); err != nil {
		return err // ENOTFOUND (the foreign key) or EUNAVAILABLE
	}
	if _, ok := f.sessions[s.ID()]; ok {
		return fmt.Errorf("fakeSessions: duplicate session id %q", s.ID())
	}
	if _, ok := f.tokens[string(tokenHash)]; ok {
		return errors.New("fakeSessions: duplicate token hash")
	}
	f.sessions[s.ID()] = &fakeSession{userID: s.UserID(), createdAt: s.CreatedAt(), expiresAt: s.ExpiresAt(), revokedAt: s.RevokedAt(),
		lastUsedAt: s.LastUsedAt(), userAgent: s.UserAgent(), client: s.ClientAddr()}
	f.tokens[string(tokenHash)] = &fakeRefresh{sessionID: s.ID()}
	return nil
}

func (f *fakeSessions) Rotate(_ context.Context, presented, successor []byte, now time.Time) (ports.RefreshTokenState, bool, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return ports.RefreshTokenState{}, false, err
	}
	t, ok := f.tokens[string(presented)]
	if !ok {
		return ports.RefreshTokenState{}, false, domain.ErrSessionNotFound
	}
	before := f.state(t)
	if !t.spentAt.IsZero() || !f.sessions[t.sessionID].liveAt(now) {
		return before, false, nil
	}
	if _, ok := f.tokens[string(successor)]; ok {
		return ports.RefreshTokenState{}, false, errors.New("fakeSessions: duplicate token hash")
	}
	t.spentAt = now
	f.tokens[string(successor)] = &fakeRefresh{sessionID: t.sessionID}
	return before, true, nil
}

func (f *fakeSessions) Token(_ context.Context, hash []byte) (ports.RefreshTokenState, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return ports.RefreshTokenState{}, err
	}
	t, ok := f.tokens[string(hash)]
	if !ok {
		return ports.RefreshTokenState{}, domain.ErrSessionNotFound
	}
	return f.state(t), nil
}

func (f *fakeSessions) Revoke(_ context.Context, id string, now time.Time) error {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	if s, ok := f.sessions[id]; ok && s.revokedAt.IsZero() {
		s.revokedAt = now
	}
	return nil
}

func (f *fakeSessions) RevokeAll(_ context.Context, userID int64, now time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range f.sessions {
		if s.userID == userID && s.liveAt(now) {
			s.revokedAt = now
			n++
		}
	}
	return n, nil
}

// RevokeOthers is RevokeAll sparing keepID, under the one mutex.
func (f *fakeSessions) RevokeOthers(_ context.Context, userID int64, keepID string, now time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return 0, err
	}
	n := 0
	for id, s := range f.sessions {
		if id != keepID && s.userID == userID && s.liveAt(now) {
			s.revokedAt = now
			n++
		}
	}
	return n, nil
}

func (f *fakeSessions) ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return nil, err
	}
	s, ok := f.sessions[sessionID]
	if !ok || s.userID != userID || !s.liveAt(now) {
		return nil, domain.ErrSessionNotFound
	}
	return f.users.ByID(ctx, userID)
}

func (f *fakeSessions) DeleteEnded(_ context.Context, cutoff time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return 0, err
	}
	n := 0
	for id, s := range f.sessions {
		if s.expiresAt.Before(cutoff) || !s.revokedAt.IsZero() && s.revokedAt.Before(cutoff) {
			delete(f.sessions, id)
			n++
		}
	}
	for h, t := range f.tokens {
		if _, ok := f.sessions[t.sessionID]; !ok {
			delete(f.tokens, h)
		}
	}
	return n, nil
}

// live reports whether session id exists and is live at now.
func (f *fakeSessions) live(id string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	return ok && s.liveAt(now)
}

// fakeSessionTokens is a deterministic ports.SessionTokens shaped like the
// real one: refresh tokens are 43 base64url characters (256 bits), Hash is
// SHA-256 of the decoded bytes, and Successor is an HMAC under key.
type fakeSessionTokens struct {
	key []byte
	n   atomic.Int64
}

var _ ports.SessionTokens = (*fakeSessionTokens)(nil)

const refreshTokenLen = 43

func (f *fakeSessionTokens) NewSessionID() (string, error) {
	sum := sha256.Sum256(fmt.Appendf(nil, "session:%d", f.n.Add(1)))
	return hex.EncodeToString(sum[:16]), nil
}

func (f *fakeSessionTokens) NewRefreshToken() (string, error) {
	m := hmac.New(sha256.New, f.key)
	fmt.Fprintf(m, "refresh:%d", f.n.Add(1))
	return b64.EncodeToString(m.Sum(nil)), nil
}

func decodeRefresh(token string) ([]byte, bool) {
	if len(token) != refreshTokenLen {
		return nil, false
	}
	raw, err := b64.DecodeString(token)
	return raw, err == nil && len(raw) == sha256.Size
}

func (f *fakeSessionTokens) Hash(token string) ([]byte, bool) {
	raw, ok := decodeRefresh(token)
	if !ok {
		return nil, false
	}
	sum := sha256.Sum256(raw)
	return sum[:], true
}

func (f *fakeSessionTokens) Successor(token string) string {
	raw, ok := decodeRefresh(token)
	if !ok {
		return ""
	}
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte("successor:"))
	m.Write(raw)
	return b64.EncodeToString(m.Sum(nil))
}

// fakeEvents is a ports.EventLog that keeps the events and writes each as a
// JSON line, as an operator would see it, to its own buffer.
type fakeEvents struct {
	mu     sync.Mutex
	events []ports.SecurityEvent
	log    *slog.Logger
}

var _ ports.EventLog = (*fakeEvents)(nil)

func (f *fakeEvents) Record(ctx context.Context, e ports.SecurityEvent) {
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
	f.log.LogAttrs(ctx, slog.LevelWarn, "security event",
		slog.String("event", string(e.Name)), slog.String("request_id", ports.RequestIDFrom(ctx)),
		slog.String("client_ip", ports.ClientFrom(ctx)), slog.Int64("user_id", e.UserID),
		slog.String("session_id", e.SessionID), slog.String("reason", string(e.Reason)),
		slog.String("actor", ports.ActorFrom(ctx)))
}

// names returns the recorded events' names in order.
func (f *fakeEvents) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, string(e.Name))
	}
	return out
}

// fakeRateLimits is an in-memory ports.RateLimitStore with the port's
// fixed-window semantics (TestFakeRateLimitsContract runs the port's
// contract over it). It remembers every key it was asked about, so tests
// can see which client or account a request was charged to.
type fakeRateLimits struct {
	mu      sync.Mutex
	windows map[string]*fakeWindow
	err     error // when set, every method returns it
	hits    []string
}

type fakeWindow struct {
	count   int
	resetAt time.Time
}

var _ ports.RateLimitStore = (*fakeRateLimits)(nil)

func newFakeRateLimits() *fakeRateLimits {
	return &fakeRateLimits{windows: map[string]*fakeWindow{}}
}

func (f *fakeRateLimits) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// begin locks and returns the injected error, or EUNAVAILABLE for a
// context that is over; the caller must unlock.
func (f *fakeRateLimits) begin(ctx context.Context) error {
	f.mu.Lock()
	if f.err != nil {
		return f.err
	}
	if err := ctx.Err(); err != nil {
		return domain.Unavailable(err)
	}
	return nil
}

// open returns key's window if it is open at now, forgetting it otherwise.
func (f *fakeRateLimits) open(key string, now time.Time) *fakeWindow {
	w, ok := f.windows[key]
	if ok && !now.Before(w.resetAt) {
		delete(f.windows, key)
		return nil
	}
	return w
}

func (f *fakeRateLimits) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx); err != nil {
		return 0, time.Time{}, err
	}
	f.hits = append(f.hits, key)
	w := f.open(key, now)
	if w == nil {
		w = &fakeWindow{resetAt: now.Add(window).UTC()}
		f.windows[key] = w
	}
	w.count++
	return w.count, w.resetAt, nil
}

func (f *fakeRateLimits) Count(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx); err != nil {
		return 0, time.Time{}, err
	}
	if w := f.open(key, now); w != nil {
		return w.count, w.resetAt, nil
	}
	return 0, time.Time{}, nil
}

func (f *fakeRateLimits) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.begin(ctx); err != nil {
		return 0, err
	}
	n := 0
	for k, w := range f.windows {
		if !now.Before(w.resetAt) {
			delete(f.windows, k)
			n++
		}
	}
	return n, nil
}

func (f *fakeRateLimits) Release(ctx context.Context, key string, now time.Time) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx); err != nil {
		return err
	}
	if w := f.open(key, now); w != nil {
		if w.count--; w.count <= 0 {
			delete(f.windows, key)
		}
	}
	return nil
}

func (f *fakeRateLimits) Reset(ctx context.Context, key string) error {
	defer f.mu.Unlock()
	if err := f.begin(ctx); err != nil {
		return err
	}
	delete(f.windows, key)
	return nil
}

// hitKeys returns the keys Hit was called with, in order.
func (f *fakeRateLimits) hitKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hits)
}

// fakeBreaches is a ports.BreachChecker that knows a fixed set of breached
// passwords and counts its calls.
type fakeBreaches struct {
	mu       sync.Mutex
	breached map[string]bool
	err      error
	calls    atomic.Int64
}

var _ ports.BreachChecker = (*fakeBreaches)(nil)

func newFakeBreaches(breached ...string) *fakeBreaches {
	f := &fakeBreaches{breached: map[string]bool{}}
	for _, p := range breached {
		f.breached[p] = true
	}
	return f
}

func (f *fakeBreaches) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeBreaches) Breached(_ context.Context, password string) (bool, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	return f.breached[password], nil
}

// fakeClock is a settable ports.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ ports.Clock = (*fakeClock)(nil)

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a bytes.Buffer safe for the server goroutine to write
// while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// -------------------------------------------------------------- harness

type harness struct {
	t             *testing.T
	app           *fiber.App
	users         *fakeUsers
	hasher        *fakeHasher
	tokens        *fakeTokens
	sessions      *fakeSessions
	sessionTokens *fakeSessionTokens
	events        *fakeEvents
	clock         *fakeClock
	limits        *fakeRateLimits // the store behind app.Limits, used when enabled
	logs          *syncBuffer     // the access log
	security      *syncBuffer     // the security events, one JSON line each
	// metrics records what the adapter reports through Config.Observe and
	// serves a fixed exposition at /metrics. The real adapters/metrics is
	// not imported here (adapters do not import each other, tests
	// included); cmd/authd's tests run the two together.
	metrics *fakeMetrics

	// mail holds the emailed tokens and the outbox when withMail is used.
	mail *fakeMail
	svc  *app.Service

	// ports and cfg are what the service was built from, for tests that
	// build their own.
	ports app.Ports
	cfg   app.Config

	readyMu  sync.Mutex
	notReady map[string]string
}

type harnessConfig struct {
	users          ports.UserRepository    // nil means the harness's fakeUsers
	sessions       ports.SessionRepository // nil means the harness's fakeSessions
	cors           []string
	requestTimeout time.Duration
	readTimeout    time.Duration
	sessionTTL     time.Duration // 0 means app's default
	limits         app.Limits
	trusted        []netip.Prefix
	breaches       ports.BreachChecker
	jwks           []byte
	hsts, noDocs   bool
	warnForwarded  bool
	mail           *app.MailConfig // nil: no mailer
	refusalHold    time.Duration
}

type option func(*harnessConfig)

// withHSTS sets httpapi.Config.HSTS (production).
func withHSTS() option { return func(c *harnessConfig) { c.hsts = true } }

// withForwardedWarning sets httpapi.Config.WarnUntrustedForwarded.
func withForwardedWarning() option { return func(c *harnessConfig) { c.warnForwarded = true } }

// withoutDocs sets httpapi.Config.NoDocs (AUTHD_DOCS=false).
func withoutDocs() option { return func(c *harnessConfig) { c.noDocs = true } }

// withUsers replaces the in-memory repository, e.g. with a gomock mock.
func withUsers(r ports.UserRepository) option { return func(c *harnessConfig) { c.users = r } }

// withSessions replaces the in-memory session store, e.g. with a gomock mock.
func withSessions(r ports.SessionRepository) option {
	return func(c *harnessConfig) { c.sessions = r }
}

func withSessionTTL(d time.Duration) option { return func(c *harnessConfig) { c.sessionTTL = d } }

func withCORS(origins ...string) option { return func(c *harnessConfig) { c.cors = origins } }

func withRequestTimeout(d time.Duration) option {
	return func(c *harnessConfig) { c.requestTimeout = d }
}

// testLimits are small enough to reach in a test: 3 register, login or
// refresh requests per client per minute, and an account throttled after
// 10 failed logins in 15 minutes.
var testLimits = app.Limits{
	Enabled:         true,
	IPRequests:      3,
	IPWindow:        time.Minute,
	AccountFailures: 10,
	AccountWindow:   15 * time.Minute,
}

// withLimits turns rate limiting on with l (usually testLimits, or a
// variant of it), counted in the harness's fakeRateLimits.
func withLimits(l app.Limits) option { return func(c *harnessConfig) { c.limits = l } }

// withTrustedProxies sets httpapi.Config.TrustedProxies. Requests sent
// with app.Test come from the peer 0.0.0.0, so "0.0.0.0/32" trusts them
// and "10.0.0.0/8" does not.
func withTrustedProxies(prefixes ...string) option {
	return func(c *harnessConfig) {
		for _, p := range prefixes {
			c.trusted = append(c.trusted, netip.MustParsePrefix(p))
		}
	}
}

// withBreaches turns the breached-password check on with b.
func withBreaches(b ports.BreachChecker) option { return func(c *harnessConfig) { c.breaches = b } }

// withMail turns the mail flows on with mc, over the harness's fakeMail.
func withMail(mc app.MailConfig) option { return func(c *harnessConfig) { c.mail = &mc } }

// withJWKS sets the key set document served at /.well-known/jwks.json.
func withJWKS(doc []byte) option { return func(c *harnessConfig) { c.jwks = doc } }

// newHarness wires the real app.Service and the real Fiber app from fakes.
func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	var hc harnessConfig
	for _, o := range opts {
		o(&hc)
	}
	h := &harness{
		t:             t,
		users:         newFakeUsers(),
		hasher:        &fakeHasher{},
		tokens:        &fakeTokens{key: []byte("test-signing-key-0123456789abcdef")},
		sessionTokens: &fakeSessionTokens{key: []byte("test-successor-key-0123456789abcd")},
		clock:         &fakeClock{now: t0},
		limits:        newFakeRateLimits(),
		logs:          &syncBuffer{},
		security:      &syncBuffer{},
		metrics:       &fakeMetrics{},
	}
	h.events = &fakeEvents{log: slog.New(slog.NewJSONHandler(h.security, nil))}
	var repo ports.UserRepository = h.users
	if hc.users != nil {
		repo = hc.users
	}
	h.sessions = newFakeSessions(repo)
	var sessions ports.SessionRepository = h.sessions
	if hc.sessions != nil {
		sessions = hc.sessions
	}
	h.ports = app.Ports{
		Users:         repo,
		Sessions:      sessions,
		Hasher:        h.hasher,
		Tokens:        h.tokens,
		SessionTokens: h.sessionTokens,
		Clock:         h.clock,
		Events:        h.events,
		RateLimits:    h.limits,
		Breaches:      hc.breaches,
	}
	h.cfg = app.Config{Policy: domain.PasswordPolicy{}, SessionTTL: hc.sessionTTL, Limits: hc.limits}
	if hc.mail != nil {
		h.mail = newFakeMail(repo)
		h.ports.EmailTokens, h.ports.Outbox = h.mail, h.mail
		h.cfg.Mail = *hc.mail
	}
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	h.svc = svc
	logger := slog.New(slog.NewJSONHandler(h.logs, nil))
	f, err := httpapi.New(httpapi.Config{
		CORSOrigins:    hc.cors,
		OpenAPI:        docs.OpenAPI,
		JWKS:           hc.jwks,
		RequestTimeout: hc.requestTimeout,
		ReadTimeout:    hc.readTimeout,
		TrustedProxies: hc.trusted,
		Observe:        h.metrics.observe,
		Metrics:        h.metrics,
		HSTS:           hc.hsts,
		NoDocs:         hc.noDocs,
		RefusalHold:    hc.refusalHold,
		Ready:          []httpapi.Check{{Name: "database", Run: h.readyCheck("database")}, {Name: "migrations", Run: h.readyCheck("migrations")}},

		WarnUntrustedForwarded: hc.warnForwarded,
	}, svc, logger)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	h.app = f
	return h
}

// readyCheck is the readiness check name: "ok" unless setNotReady gave
// it another state.
func (h *harness) readyCheck(name string) func(context.Context) (string, bool) {
	return func(context.Context) (string, bool) {
		h.readyMu.Lock()
		defer h.readyMu.Unlock()
		if state, ok := h.notReady[name]; ok {
			return state, state == "ok"
		}
		return "ok", true
	}
}

// setNotReady makes the readiness check fail with these checks; nil makes
// it pass again.
func (h *harness) setNotReady(checks map[string]string) {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	h.notReady = checks
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%d %v %s", r.status, r.header, r.body)
}

// do sends req through the real Fiber app with app.Test (no timeout), and
// validates the response against docs/openapi.yaml.
func (h *harness) do(req *http.Request) *response {
	h.t.Helper()
	res, err := h.app.Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("reading body: %v", err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: body}
	checkResponse(h.t, req, r)
	return r
}

// newRequest builds a request. A non-nil body gets Content-Type
// application/json unless headers say otherwise ("Content-Type": "" removes it).
func newRequest(method, target, body string, headers ...string) *http.Request {
	var r io.Reader = http.NoBody
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func (h *harness) post(target, body string, headers ...string) *response {
	h.t.Helper()
	return h.do(newRequest(http.MethodPost, target, body, headers...))
}

func (h *harness) get(target string, headers ...string) *response {
	h.t.Helper()
	return h.do(newRequest(http.MethodGet, target, "", headers...))
}

const (
	registerPath  = "/api/v1/auth/register"
	loginPath     = "/api/v1/auth/login"
	refreshPath   = "/api/v1/auth/refresh"
	logoutPath    = "/api/v1/auth/logout"
	logoutAllPath = "/api/v1/auth/logout/all"
	mePath        = "/api/v1/users/me"
)

func credsJSON(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// register registers a user and fails the test unless it gets 201.
func (h *harness) register(email, password string) map[string]any {
	h.t.Helper()
	r := h.post(registerPath, credsJSON(email, password))
	if r.status != http.StatusCreated {
		h.t.Fatalf("register %s: %v", email, r)
	}
	return decodeObject(h.t, r)
}

// login logs in and returns the access token, failing unless 200.
func (h *harness) login(email, password string) string {
	h.t.Helper()
	return h.loginTokens(email, password).access
}

// tokenPair is what a login or refresh hands out.
type tokenPair struct{ access, refresh string }

// loginTokens logs in and returns both tokens, failing unless 200.
func (h *harness) loginTokens(email, password string) tokenPair {
	h.t.Helper()
	r := h.post(loginPath, credsJSON(email, password))
	if r.status != http.StatusOK {
		h.t.Fatalf("login %s: %v", email, r)
	}
	return tokensOf(h.t, r)
}

// tokensOf reads both tokens from a 200 login or refresh response.
func tokensOf(t *testing.T, r *response) tokenPair {
	t.Helper()
	body := decodeObject(t, r)
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if access == "" || refresh == "" {
		t.Fatalf("no access_token or refresh_token in %s", r.body)
	}
	return tokenPair{access, refresh}
}

func refreshJSON(token string) string {
	b, _ := json.Marshal(map[string]string{"refresh_token": token})
	return string(b)
}

// refresh posts token to the refresh endpoint.
func (h *harness) refresh(token string) *response {
	h.t.Helper()
	return h.post(refreshPath, refreshJSON(token))
}

// logout posts token to the logout endpoint.
func (h *harness) logout(token string) *response {
	h.t.Helper()
	return h.post(logoutPath, refreshJSON(token))
}

// sessionOf returns the session id an access token carries.
func (h *harness) sessionOf(access string) string {
	h.t.Helper()
	c, err := h.tokens.Verify(access, h.clock.Now())
	if err != nil {
		h.t.Fatalf("access token does not verify: %v", err)
	}
	return c.SessionID
}

// -------------------------------------------------------------- asserts

func decodeObject(t *testing.T, r *response) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

func mediaType(r *response) string {
	ct := r.header.Get("Content-Type")
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(strings.ToLower(mt))
}

// wantStatus fails the test unless r has the given status.
func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantProblem checks that r is an RFC 9457 problem with the given status:
// problem+json media type, type/title/status/detail members, and a
// request_id equal to the X-Request-ID header. It returns the body.
func wantProblem(t *testing.T, r *response, status int) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	if mt := mediaType(r); mt != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", r.header.Get("Content-Type"))
	}
	p := decodeObject(t, r)
	code, _ := p["code"].(string)
	if !slices.Contains(httpapi.ProblemCodes(), code) {
		t.Errorf("code = %#v, want one of httpapi.ProblemCodes()", p["code"])
	}
	if want := problemTypeBase + code; p["type"] != want {
		t.Errorf("type = %v, want %q", p["type"], want)
	}
	if want := http.StatusText(status); p["title"] != want {
		t.Errorf("title = %v, want %q", p["title"], want)
	}
	if n, ok := p["status"].(json.Number); !ok || n.String() != strconv.Itoa(status) {
		t.Errorf("status member = %#v, want the integer %d", p["status"], status)
	}
	if d, ok := p["detail"].(string); !ok || d == "" {
		t.Errorf("detail = %#v, want a non-empty string", p["detail"])
	}
	id := r.header.Get("X-Request-ID")
	if id == "" {
		t.Errorf("no X-Request-ID header on a %d problem", status)
	}
	if p["request_id"] != id {
		t.Errorf("request_id = %v, want the X-Request-ID header %q", p["request_id"], id)
	}
	return p
}

// problemTypeBase is what a problem's type URI is, before its code: the
// code's entry in docs/errors.md.
const problemTypeBase = "https://github.com/authd/authd/blob/main/docs/errors.md#"

// wantCode fails the test unless problem p has this code.
func wantCode(t *testing.T, p map[string]any, code string) {
	t.Helper()
	if p["code"] != code {
		t.Errorf("code = %#v, want %q (detail %q)", p["code"], code, p["detail"])
	}
}

// wantFieldCodes fails the test unless the 422 problem p's errors carry
// these codes, in order.
func wantFieldCodes(t *testing.T, p map[string]any, codes ...string) {
	t.Helper()
	list, _ := p["errors"].([]any)
	var got []string
	for _, e := range list {
		m, _ := e.(map[string]any)
		c, _ := m["code"].(string)
		got = append(got, c)
	}
	if !slices.Equal(got, codes) {
		t.Errorf("errors carry codes %q, want %q", got, codes)
	}
}

// wantFields checks a 422 problem's errors list names exactly these
// fields, each with a listed code and a non-empty detail, repeated in
// message for older clients.
func wantFields(t *testing.T, p map[string]any, fields ...string) {
	t.Helper()
	list, ok := p["errors"].([]any)
	if !ok {
		t.Fatalf("errors = %#v, want a list", p["errors"])
	}
	var got []string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || len(m) != 4 {
			t.Fatalf("errors item = %#v, want exactly {field, code, detail, message}", e)
		}
		f, _ := m["field"].(string)
		code, _ := m["code"].(string)
		detail, _ := m["detail"].(string)
		if f == "" || detail == "" || m["message"] != detail || !slices.Contains(httpapi.ProblemCodes(), code) {
			t.Fatalf("errors item = %#v, want a field, a listed code, and a non-empty detail repeated in message", e)
		}
		got = append(got, f)
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Fatalf("errors name fields %v, want %v", got, fields)
	}
}

// withoutRequestID returns the body of a problem with request_id removed,
// re-encoded canonically, so two problems can be compared.
func withoutRequestID(t *testing.T, r *response) string {
	t.Helper()
	m := decodeObject(t, r)
	delete(m, "request_id")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
