package main

import (
	"fmt"
	"net/http"

	"github.com/urfave/cli/v2"

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
			header := http.Header{}
			if c.IsSet("if-match") {
				etag := c.String("if-match")
				if etag == "" {
					return usagef("delete", "--if-match: empty ETAG")
				}
				header.Set("If-Match", quoteETag(etag))
			}
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.close()
			resp, err := cl.do(c.Context, request{
				op:     fmt.Sprintf("delete %q", key),
				method: http.MethodDelete,
				path:   keyPath("/", key),
				header: header,
				limit:  maxMessageSize,
			})
			if err != nil {
				return notFound(err)
			}
			return cliout.PrintLine(sys.stdout, resp.body)
		},
	}
}
