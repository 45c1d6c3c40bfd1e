package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// latestMigration is the highest NNN in the NNN_name.up.sql files: what
// the tests expect a fully migrated schema to be at, read from the files
// independently of the store adapters.
func latestMigration(files fs.FS) (int, error) {
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
