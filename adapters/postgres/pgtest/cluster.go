package pgtest

import (
	"errors"
	"fmt"
	"regexp"
)

// StartCluster starts a dedicated throwaway cluster outside of a test (for
// tools such as cmd/authbench): the same initdb/pg_ctl set-up as Start and
// New, including running the binaries as the postgres user when the caller
// is root. It returns an error, never skips; the caller must Stop it.
func StartCluster() (*Server, error) { return start(false) }

var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates an empty database called name (lower-case
// letters, digits and _) and returns its URL (TCP on 127.0.0.1). It lives
// until the cluster is stopped.
func (s *Server) CreateDatabase(name string) (string, error) {
	if !dbName.MatchString(name) {
		return "", fmt.Errorf("pgtest: %q is not a plain database name", name)
	}
	if s.stopped {
		return "", errors.New("pgtest: cluster is stopped")
	}
	if out, err := s.psql("postgres", "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %v: %s", err, out)
	}
	return s.URL(name), nil
}
