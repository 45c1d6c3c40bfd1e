//go:build (unix && !aix && !solaris) || illumos

package sqlite

import (
	"os"
	"syscall"
)

// fileLockSupported reports whether flockExclusive and flockRelease work on
// this platform, so that MigrationDriver.Lock excludes other processes.
const fileLockSupported = true

// flockExclusive blocks until it holds an exclusive flock(2) on f.
func flockExclusive(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// flockRelease drops the flock(2) on f.
func flockRelease(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
