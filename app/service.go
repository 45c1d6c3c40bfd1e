// Package app holds authd's use cases, one file each: register.go,
// login.go, refresh.go, logout.go, authenticate.go, sweep.go, with the
// rate-limit policy in limits.go. It talks to the outside world only
// through the interfaces in ports, which cmd/authd fills with adapters.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// dummyPassword is hashed once at start-up. Logging in with an unknown
// email compares against that hash, so the response takes as long as a
// wrong password for a real account and does not reveal which emails exist.
const dummyPassword = "authd-timing-equalizer-not-a-real-password"

// Ports are the outside world the use cases need; New refuses a nil one.
type Ports struct {
	Users         ports.UserRepository
	Sessions      ports.SessionRepository
	Hasher        ports.PasswordHasher
	Tokens        ports.TokenIssuer
	SessionTokens ports.SessionTokens
	Clock         ports.Clock
	Events        ports.EventLog
	// RateLimits is required when Config.Limits.Enabled.
	RateLimits ports.RateLimitStore
	// Breaches is optional: nil turns the breached-password check off.
	Breaches ports.BreachChecker
	// Devices is optional: nil issues no device tokens, and then nothing
	// exempts a client from the account-wide cap.
	Devices ports.DeviceTokens
	// EmailTokens and Outbox, both or neither, turn the mail flows on
	// (see MailConfig).
	EmailTokens ports.EmailTokenRepository
	Outbox      ports.MailOutbox
}

// Config holds the use cases' rules.
type Config struct {
	Policy domain.PasswordPolicy
	// SessionTTL is a session's absolute lifetime from login; refreshing
	// never extends it. Default 30 days.
	SessionTTL time.Duration
	// ReuseGrace is how long after a refresh the spent token may be
	// presented again (two tabs, a retried request) and receive the same
	// successor. Later, presenting it is treated as theft. Default 10s;
	// see StrictRotation for none.
	ReuseGrace time.Duration
	// StrictRotation turns the grace window off: any second presentation
	// of a spent refresh token is treated as theft (AUTHD_REFRESH_REUSE_GRACE=0s).
	StrictRotation bool
	// Limits configure rate limiting (see Limits).
	Limits Limits
	// BreachFailClosed refuses registrations (503) while the breach
	// checker cannot answer; by default they proceed.
	BreachFailClosed bool
	// MaxSessions bounds a user's live sessions: a login that would
	// exceed it ends the oldest first. Default 100; negative means no cap.
	MaxSessions int
	// Mail configures the mail flows.
	Mail MailConfig
}

// Defaults for Config's zero values.
const (
	DefaultSessionTTL = 30 * 24 * time.Hour
	DefaultReuseGrace = 10 * time.Second
	// DefaultMaxSessions is Config.MaxSessions' default.
	DefaultMaxSessions = 100
	// touchEvery is how often, at most, a session's last use is written.
	touchEvery = time.Minute
)

// Service runs the use cases. Its dependencies are unexported: drivers
// (the HTTP adapter, the CLI) reach storage only through use cases.
type Service struct {
	users         ports.UserRepository
	sessions      ports.SessionRepository
	hasher        ports.PasswordHasher
	tokens        ports.TokenIssuer
	sessionTokens ports.SessionTokens
	clock         ports.Clock
	events        ports.EventLog
	limits        ports.RateLimitStore
	breaches      ports.BreachChecker
	devices       ports.DeviceTokens
	emailTokens   ports.EmailTokenRepository
	outbox        ports.MailOutbox

	cfg       Config
	bg        background
	dummyHash string
	touched   touchLog
}

// New builds the use cases from ports. It hashes a dummy password once with
// the given hasher, so the dummy costs exactly what a real hash costs.
func New(p Ports, cfg Config) (*Service, error) {
	switch {
	case p.Users == nil:
		return nil, errors.New("app: nil UserRepository")
	case p.Sessions == nil:
		return nil, errors.New("app: nil SessionRepository")
	case p.Hasher == nil:
		return nil, errors.New("app: nil PasswordHasher")
	case p.Tokens == nil:
		return nil, errors.New("app: nil TokenIssuer")
	case p.SessionTokens == nil:
		return nil, errors.New("app: nil SessionTokens")
	case p.Clock == nil:
		return nil, errors.New("app: nil Clock")
	case p.Events == nil:
		return nil, errors.New("app: nil EventLog")
	case cfg.Limits.Enabled && p.RateLimits == nil:
		return nil, errors.New("app: rate limits enabled without a RateLimitStore")
	case cfg.Limits.Enabled && (cfg.Limits.IPWindow <= 0 && cfg.Limits.IPRequests > 0 || cfg.Limits.AccountWindow <= 0 && cfg.Limits.AccountFailures > 0):
		return nil, errors.New("app: a rate limit needs a positive window")
	case (p.EmailTokens == nil) != (p.Outbox == nil):
		return nil, errors.New("app: EmailTokens and Outbox go together")
	case cfg.Mail.RequireVerified && p.EmailTokens == nil:
		return nil, errors.New("app: verified emails are required, but there is no mail to verify them with")
	case cfg.Mail.VerifyTTL < 0 || cfg.Mail.ResetTTL < 0 || (cfg.Mail.Cooldown < 0 && cfg.Mail.Cooldown != NoMailLimit) || cfg.Mail.DailyCap < NoMailLimit || cfg.Mail.ClientMails < 0 || cfg.Mail.ClientMailWindow < 0 || cfg.Mail.Background < 0:
		return nil, errors.New("app: negative mail setting")
	case cfg.SessionTTL < 0 || cfg.ReuseGrace < 0:
		return nil, errors.New("app: negative session lifetime or reuse grace")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	cfg.Mail.setDefaults()
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	switch {
	case cfg.StrictRotation:
		cfg.ReuseGrace = 0
	case cfg.ReuseGrace == 0:
		cfg.ReuseGrace = DefaultReuseGrace
	}
	dummy, err := p.Hasher.Hash(context.Background(), dummyPassword)
	if err != nil {
		return nil, fmt.Errorf("app: hashing the timing dummy: %w", err)
	}
	return &Service{
		users: p.Users, sessions: p.Sessions, hasher: p.Hasher, tokens: p.Tokens,
		sessionTokens: p.SessionTokens, clock: p.Clock, events: p.Events,
		limits: p.RateLimits, breaches: p.Breaches, devices: p.Devices,
		emailTokens: p.EmailTokens, outbox: p.Outbox,
		cfg: cfg, dummyHash: dummy, bg: background{slots: make(chan struct{}, cfg.Mail.Background)},
	}, nil
}

// Tokens is what a successful login or refresh hands out.
type Tokens struct {
	User        *domain.User
	AccessToken ports.AccessToken
	// RefreshToken is opaque; RefreshExpiresIn is how long its session has
	// left (refreshing never extends it).
	RefreshToken     string
	RefreshExpiresIn time.Duration
	// DeviceToken is set by Login only (see Limits); "" without one.
	DeviceToken string
}

// issue signs the access token that goes with refresh in session.
func (s *Service) issue(user *domain.User, session *domain.Session, refresh string, now time.Time) (*Tokens, error) {
	access, err := s.tokens.Issue(ports.AccessSubject{UserID: user.ID(), SessionID: session.ID(), EmailVerified: user.EmailVerified()}, now, session.ExpiresAt())
	if err != nil {
		return nil, err
	}
	return &Tokens{User: user, AccessToken: access, RefreshToken: refresh, RefreshExpiresIn: session.RemainingAt(now)}, nil
}

// deviceToken returns the device token a successful login hands out: the
// presented one's device renewed, or a new device.
func (s *Service) deviceToken(a *loginAttempt, now time.Time) (string, error) {
	if s.devices == nil {
		return "", nil
	}
	device := ""
	if a.deviceOK && a.device.UserID == a.user.ID() {
		device = a.device.DeviceID
	}
	return s.devices.Issue(a.user.ID(), device, now)
}

// orIfNotFound returns replacement when err is ENOTFOUND and err itself
// otherwise (nil included): a lookup that finds nothing means something
// specific to each use case (invalid credentials, an invalid token), while
// every other failure (EUNAVAILABLE) must reach the client as it is.
func orIfNotFound(err, replacement error) error {
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return replacement
	}
	return err
}
