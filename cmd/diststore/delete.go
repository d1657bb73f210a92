package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/cliout"
)

// deleteCommand deletes a key: DELETE /<key>.
func deleteCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete KEY from the cluster",
		ArgsUsage: "KEY",
		Description: "Deletes KEY on every master and every cached copy, and prints the node's answer,\n" +
			"which names the masters. Exit status 1 if the key did not exist (the masters tell;\n" +
			"a node too old to tell, or the original pydiststore, gives 0 either way). With\n" +
			"--if-match, a key at another version, or absent, is exit status 2 (412) and is\n" +
			"not deleted.",
		Flags:        []cli.Flag{&cli.StringFlag{Name: "if-match", Usage: "delete only if the key's current version is `ETAG` (as get -v prints it; \"*\": if it exists); else exit 2 with \"412\""}},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			a, err := needArgs(c, "KEY")
			if err != nil {
				return err
			}
			key := a[0]
			var opts []client.WriteOption
			if c.IsSet("if-match") {
				etag := c.String("if-match")
				if etag == "" {
					return usagef("delete", "--if-match: empty ETAG")
				}
				opts = append(opts, client.IfMatch(etag))
			}
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := cl.Delete(c.Context, key, opts...)
			if err != nil {
				return notFound(err)
			}
			if res.Existed != nil && !*res.Existed {
				return fmt.Errorf("delete %q: %w: the key did not exist (node %s)", key, errNotFound, res.Node)
			}
			return cliout.PrintLine(sys.stdout, []byte(res.Message))
		},
	}
}
