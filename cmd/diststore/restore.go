package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/store"
)

// restoreCommand loads a backup into the running cluster: every entry to
// every master, with its own version (POST /admin/restore).
func restoreCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "load the backup FILE into the running cluster; a key newer in the cluster keeps its value",
		ArgsUsage: "FILE",
		Description: "Checks FILE (as backup does), then sends every entry, deleted keys included, each\n" +
			"with the version it had, to every master; a master stores an entry only if it is\n" +
			"newer than what it holds, so data written since the backup wins and a restore can be\n" +
			"run again. If the masters change meanwhile, the new ones get it too. An entry whose\n" +
			"version is further ahead of a master's clock than its --max-clock-skew is refused,\n" +
			"and the exit status is then 2. Progress is shown when standard error is a terminal.",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			a, err := needArgs(c, "FILE")
			if err != nil {
				return err
			}
			path := a[0]
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			info, err := store.ReadBackup(path, nil)
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			total := int64(info.Entries + info.Tombstones)
			results, err := cl.Restore(c.Context, func() (io.ReadCloser, error) {
				return dumpBackup(path, sys.newProgress("restore", total, countString, " entries")), nil
			})
			if err != nil {
				return err
			}
			var refused []string
			for _, r := range results {
				fmt.Fprintf(sys.stdout, "restored %s to %s: %d entries read, %d stored, %d older than the master's, %d expired\n",
					path, r.Node, r.Read, r.Applied, r.Older, r.Expired)
				if r.Refused > 0 {
					refused = append(refused, fmt.Sprintf("%d by %s", r.Refused, r.Node))
				}
			}
			if len(refused) > 0 {
				return fmt.Errorf("restore: entries refused, their versions too far ahead of the master's clock: %s", strings.Join(refused, ", "))
			}
			return nil
		},
	}
}

// dumpBackup returns the entries of the backup at path in the dump
// format, as a stream written by a goroutine of its own that ends with
// the stream (or when the reader closes it).
func dumpBackup(path string, prog *progress) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := store.WriteDumpHeader(bw)
		if err == nil {
			_, err = store.ReadBackup(path, func(key string, e store.Entry) error {
				prog.add(1)
				return store.WriteDumpEntry(bw, key, e, true)
			})
		}
		if err == nil {
			err = store.WriteDumpEnd(bw)
		}
		if err == nil {
			err = bw.Flush()
		}
		prog.finish()
		pw.CloseWithError(err)
	}()
	return pr
}
