// Package migration is what every store adapter reports about its schema,
// in one vocabulary: the newest migration its binary ships, and the
// readiness state of the schema it finds. The stores may not import each
// other, so the rule lives here, beside the ports they implement.
package migration

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Latest is the highest NNN among the NNN_name.up.sql files in files.
func Latest(files fs.FS) (int, error) {
	ups, err := fs.Glob(files, "*.up.sql")
	if err != nil {
		return 0, err
	}
	latest := -1
	for _, name := range ups {
		prefix, _, _ := strings.Cut(name, "_")
		n, err := strconv.Atoi(prefix)
		if err != nil {
			return 0, fmt.Errorf("migration %s: no version number", name)
		}
		latest = max(latest, n)
	}
	if latest < 0 {
		return 0, errors.New("no migrations embedded")
	}
	return latest, nil
}

// State is the "migrations" readiness check for a schema at version
// (dirty when a migration failed half-way; err when the database did not
// answer) against the newest migration the binary ships: "ok" at or past
// it, "pending" when older, "dirty", or "unknown". A newer schema is
// ready: during a rolling update the old instances keep serving after the
// new ones migrate.
func State(version int, dirty bool, err error, latest int) (string, bool) {
	switch {
	case err != nil:
		return "unknown", false
	case dirty:
		return "dirty", false
	case version < latest:
		return "pending", false
	}
	return "ok", true
}
