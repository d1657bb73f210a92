package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/internal/cliout"
)

// getCommand reads a value: GET /get/<key> or /getlocal/<key>.
func getCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "write the value of KEY to standard output, byte for byte",
		ArgsUsage: "KEY",
		Description: "The node asks the cluster for a key it does not hold, and keeps a copy.\n" +
			"Exit status 1 if no node holds the key.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "local", Usage: "only if the node itself holds the key; never ask the cluster"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print the value's ETag and where it came from (local or peer) on standard error"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			a, err := needArgs(c, "KEY")
			if err != nil {
				return err
			}
			key := a[0]
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			get := cl.Get
			if c.Bool("local") {
				get = cl.GetLocal
			}
			v, err := get(c.Context, key)
			if err != nil {
				return notFound(err)
			}
			if c.Bool("verbose") {
				fmt.Fprintf(sys.stderr, "ETag: %s\nX-Diststore-Source: %s\n", cliout.OneLine(v.ETag), cliout.OneLine(v.Source))
			}
			if _, err := sys.stdout.Write(v.Data); err != nil {
				return fmt.Errorf("get %q: writing the value: %w", key, err)
			}
			return nil
		},
	}
}
