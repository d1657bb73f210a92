package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/store"
)

// backupCommand saves a hot backup of a master: GET /backup.
func backupCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "save a consistent copy of a master's store to FILE, while the cluster keeps serving",
		ArgsUsage: "FILE",
		Description: "Asks the node for the masters and fetches the backup from a synced one: a copy of\n" +
			"its store (a bbolt file) as of one instant, holding every key. The copy goes to a\n" +
			"temporary file beside FILE, is checked (opened read-only: every record and page, and\n" +
			"the diststore format), written to disk and renamed to FILE, replacing it. Progress is\n" +
			"shown when standard error is a terminal. `diststore restore FILE` loads it.",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			a, err := needArgs(c, "FILE")
			if err != nil {
				return err
			}
			path := a[0]
			if path == "" {
				return usagef("backup", "empty FILE")
			}
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			b, err := cl.OpenBackup(c.Context)
			if err != nil {
				return err
			}
			defer b.Close()
			info, err := saveBackup(sys, path, b, b.Size)
			if err != nil {
				return fmt.Errorf("backup of %s: %w", b.Node, err)
			}
			_, err = fmt.Fprintf(sys.stdout, "backup of %s written to %s: %d keys, %d deleted keys remembered, %s\n",
				b.Node, path, info.Entries, info.Tombstones, bytesString(info.Bytes))
			return err
		},
	}
}

// saveBackup writes the backup r (size bytes) to a temporary file beside
// path, checks it, syncs it and renames it to path. On an error the
// temporary file is gone and path untouched.
func saveBackup(sys system, path string, r io.Reader, size int64) (info store.BackupInfo, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.part")
	if err != nil {
		return info, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	prog := sys.newProgress("backup", size, bytesString, "")
	n, err := io.Copy(countingWriter{tmp, prog}, r)
	prog.finish()
	if err != nil {
		return info, err
	}
	if n != size {
		return info, fmt.Errorf("got %d bytes of %d", n, size)
	}
	if err := tmp.Sync(); err != nil {
		return info, err
	}
	if err := tmp.Close(); err != nil {
		return info, err
	}
	if info, err = store.ReadBackup(tmp.Name(), nil); err != nil {
		return info, fmt.Errorf("the copy does not check: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return info, err
	}
	return info, syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) {
		return nil // a directory that cannot be synced (some file systems)
	}
	return err
}
