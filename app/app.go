// Package app holds authd's use cases. It talks to the outside world only
// through the interfaces in ports, which cmd/authd fills with adapters.
package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// dummyPassword is hashed once at start-up. Logging in with an unknown
// email compares against that hash, so the response takes as long as a
// wrong password for a real account and does not reveal which emails exist.
const dummyPassword = "authd-timing-equalizer-not-a-real-password"

// Service runs the use cases.
type Service struct {
	users     ports.UserRepository
	hasher    ports.PasswordHasher
	tokens    ports.TokenIssuer
	clock     ports.Clock
	policy    domain.PasswordPolicy
	dummyHash string
}

// New builds the use cases from ports. It hashes a dummy password once with
// the given hasher, so the dummy costs exactly what a real hash costs.
func New(users ports.UserRepository, hasher ports.PasswordHasher, tokens ports.TokenIssuer, clock ports.Clock, policy domain.PasswordPolicy) (*Service, error) {
	switch {
	case users == nil:
		return nil, errors.New("app: nil UserRepository")
	case hasher == nil:
		return nil, errors.New("app: nil PasswordHasher")
	case tokens == nil:
		return nil, errors.New("app: nil TokenIssuer")
	case clock == nil:
		return nil, errors.New("app: nil Clock")
	}
	dummy, err := hasher.Hash(context.Background(), dummyPassword)
	if err != nil {
		return nil, fmt.Errorf("app: hashing the timing dummy: %w", err)
	}
	return &Service{users: users, hasher: hasher, tokens: tokens, clock: clock, policy: policy, dummyHash: dummy}, nil
}

// Register creates an account. Returns EINVALID with field errors for a bad
// email or password (both are checked, so the client sees every problem at
// once), ECONFLICT when the email is taken, EUNAVAILABLE when storage or the
// hasher cannot answer.
func (s *Service) Register(ctx context.Context, rawEmail, password string) (*domain.User, error) {
	email, emailErr := domain.ParseEmail(rawEmail)
	if err := domain.MergeInvalid(emailErr, s.policy.Validate(password)); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err := domain.NewUser(email, hash, s.clock.Now())
	if err != nil {
		return nil, err
	}
	return s.users.Create(ctx, u)
}

// LoginResult is what a successful login hands out.
type LoginResult struct {
	User        *domain.User
	AccessToken ports.AccessToken
}

// Login checks credentials and issues an access token. Unknown email, wrong
// password and inactive account all return domain.ErrInvalidCredentials
// after exactly one password comparison. Storage failures are returned as
// they are (EUNAVAILABLE), never turned into invalid credentials.
func (s *Service) Login(ctx context.Context, rawEmail, password string) (*LoginResult, error) {
	var user *domain.User
	hash := s.dummyHash
	if email, err := domain.ParseEmail(rawEmail); err == nil {
		user, err = s.users.ByEmail(ctx, email)
		switch {
		case err == nil:
			hash = user.PasswordHash()
		case domain.ErrorCode(err) == domain.ENOTFOUND:
			user = nil
		default:
			return nil, err
		}
	}
	ok, err := s.hasher.Compare(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if user == nil || !ok || !user.IsActive() {
		return nil, domain.ErrInvalidCredentials
	}
	tok, err := s.tokens.Issue(user.ID(), s.clock.Now())
	if err != nil {
		return nil, err
	}
	return &LoginResult{User: user, AccessToken: tok}, nil
}

// Authenticate verifies an access token and returns its claims and the
// user it names. Any unacceptable token, or a user that is gone or
// inactive, is domain.ErrInvalidToken; storage failures are EUNAVAILABLE.
func (s *Service) Authenticate(ctx context.Context, token string) (*domain.User, ports.AccessClaims, error) {
	claims, err := s.tokens.Verify(token, s.clock.Now())
	if err != nil {
		if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
			return nil, ports.AccessClaims{}, domain.ErrInvalidToken
		}
		return nil, ports.AccessClaims{}, err
	}
	u, err := s.users.ByID(ctx, claims.UserID)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil, ports.AccessClaims{}, domain.ErrInvalidToken
	case err != nil:
		return nil, ports.AccessClaims{}, err
	case !u.IsActive():
		return nil, ports.AccessClaims{}, domain.ErrInvalidToken
	}
	return u, claims, nil
}

// CurrentUser returns the user an access token belongs to; see
// Authenticate for the errors.
func (s *Service) CurrentUser(ctx context.Context, token string) (*domain.User, error) {
	u, _, err := s.Authenticate(ctx, token)
	return u, err
}
