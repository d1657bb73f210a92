package main

import (
	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/cliout"
)

// deleteCommand deletes a key: DELETE /<key>.
func deleteCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:         "delete",
		Usage:        "delete KEY from the cluster",
		ArgsUsage:    "KEY",
		Description:  "Exit status 1 if the node answers that the key does not exist.",
		Flags:        []cli.Flag{&cli.StringFlag{Name: "if-match", Usage: "delete only if the key's current version is `ETAG` (as get -v prints it)"}},
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
			return cliout.PrintLine(sys.stdout, []byte(res.Message))
		},
	}
}
