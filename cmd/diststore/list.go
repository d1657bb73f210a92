package main

import (
	"fmt"
	"net/http"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/internal/cliout"
)

// listCommand lists the keys the node holds: GET /list.
func listCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:         "list",
		Usage:        "list the keys the node holds, one per line",
		ArgsUsage:    " ",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if _, err := needArgs(c); err != nil {
				return err
			}
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.close()
			resp, err := cl.do(c.Context, request{op: "list", method: http.MethodGet, path: "/list", limit: maxValueSize})
			if err != nil {
				return err
			}
			if err := cliout.PrintLine(sys.stdout, resp.body); err != nil {
				return fmt.Errorf("list: %w", err)
			}
			return nil
		},
	}
}
