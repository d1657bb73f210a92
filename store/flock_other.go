//go:build !unix

package store

import "os"

// releaseFile closes f, for a bolt.Open that panicked half way.
func releaseFile(f *os.File) { _ = f.Close() }
