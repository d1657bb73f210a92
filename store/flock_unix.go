//go:build unix

package store

import (
	"os"
	"syscall"
)

// releaseFile drops bbolt's flock on f and closes it, for a bolt.Open that
// panicked half way. Closing alone does not release the lock while bbolt's
// mapping of the file, which cannot be unmapped from here, holds the open
// file description.
func releaseFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}
