package domain

import (
	"errors"
	"time"
)

// User is an account that can log in. Fields are unexported: a User is
// built by NewUser (a new registration, validated) or RehydrateUser (a row
// loaded back from storage), and changes only through its methods.
type User struct {
	id           int64
	email        Email
	passwordHash string
	active       bool
	createdAt    time.Time
	// emailVerifiedAt is when the owner proved they read mail at email;
	// zero while it is not verified.
	emailVerifiedAt time.Time
}

// NewUser returns a new, active, not yet stored user (ID 0). The password
// must already be hashed by the caller's PasswordHasher.
func NewUser(email Email, passwordHash string, createdAt time.Time) (*User, error) {
	switch {
	case email.IsZero():
		return nil, errors.New("domain: new user without an email")
	case passwordHash == "":
		return nil, errors.New("domain: new user without a password hash")
	case createdAt.IsZero():
		return nil, errors.New("domain: new user without a creation time")
	}
	return &User{email: email, passwordHash: passwordHash, active: true, createdAt: createdAt.UTC()}, nil
}

// RehydrateUser rebuilds a stored user. Only repository adapters call it;
// the data is trusted to have been validated when it was written.
func RehydrateUser(id int64, email string, passwordHash string, active bool, createdAt time.Time) *User {
	return &User{id: id, email: Email{s: email}, passwordHash: passwordHash, active: active, createdAt: createdAt.UTC()}
}

// WithEmailVerifiedAt returns a copy of u whose email was verified at t
// (zero: not verified). Only repository adapters call it, on a user they
// rehydrated, to restore the stored verification time.
func (u *User) WithEmailVerifiedAt(t time.Time) *User {
	c := *u
	c.emailVerifiedAt = time.Time{}
	if !t.IsZero() {
		c.emailVerifiedAt = t.UTC()
	}
	return &c
}

// ID is the store-assigned identifier; 0 before the user is stored.
func (u *User) ID() int64 { return u.id }

// Email is the normalized address.
func (u *User) Email() Email { return u.email }

// PasswordHash is the hasher's output; it never leaves the core except to
// storage.
func (u *User) PasswordHash() string { return u.passwordHash }

// IsActive reports whether the account may log in.
func (u *User) IsActive() bool { return u.active }

// CreatedAt is the registration time in UTC.
func (u *User) CreatedAt() time.Time { return u.createdAt }

// Deactivate stops the account from logging in or using its tokens.
func (u *User) Deactivate() { u.active = false }

// EmailVerifiedAt is when the email was verified, in UTC; zero when it is
// not verified.
func (u *User) EmailVerifiedAt() time.Time { return u.emailVerifiedAt }

// EmailVerified reports whether the owner has proved they receive mail at
// the account's email.
func (u *User) EmailVerified() bool { return !u.emailVerifiedAt.IsZero() }
