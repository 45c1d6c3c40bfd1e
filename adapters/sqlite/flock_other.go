//go:build !((unix && !aix && !solaris) || illumos)

package sqlite

import (
	"errors"
	"os"
)

// fileLockSupported is false where syscall.Flock does not exist (Windows,
// AIX, Solaris, ...): there MigrationDriver.Lock is an in-process lock only.
const fileLockSupported = false

func flockExclusive(*os.File) error { return errors.ErrUnsupported }

func flockRelease(*os.File) error { return errors.ErrUnsupported }
