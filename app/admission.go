package app

import "context"

// AdmitPasswordWork asks the hasher, before anything else is spent on a
// request, whether it will take the request's password work (see
// ports.PasswordHasher.Admit). A driver calls it first thing for the
// requests that hash (register, login), so an overload refuses them before
// the driver decodes the body or counts the client's budget; Register and
// Login, given the returned context, use the reservation it carries.
// Returns EUNAVAILABLE when the hasher cannot take the work.
func (s *Service) AdmitPasswordWork(ctx context.Context) (context.Context, func(), error) {
	return s.hasher.Admit(ctx)
}
