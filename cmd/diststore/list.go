package main

import (
	"bufio"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/cliout"
)

// listCommand lists the keys the node holds: GET /list, a page at a time.
func listCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list the keys the node holds, one per line, in order",
		ArgsUsage: " ",
		Description: "A master holds every key; another node those it holds or has cached. The keys are\n" +
			"read a page at a time. With --limit, when more keys follow, the last line on standard\n" +
			"error says which --after continues the list.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "prefix", Usage: "only the keys that start with `PREFIX`"},
			&cli.StringFlag{Name: "after", Usage: "only the keys after `KEY`"},
			&cli.IntFlag{Name: "limit", Usage: "at most `N` keys; 0 means all"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if _, err := needArgs(c); err != nil {
				return err
			}
			limit := c.Int("limit")
			if limit < 0 {
				return usagef("list", "--limit %d: want 0 or more", limit)
			}
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			out := bufio.NewWriter(sys.stdout)
			opts := client.ListOptions{Prefix: c.String("prefix"), After: c.String("after")}
			printed := 0
			for {
				opts.Limit = client.MaxListLimit
				if limit > 0 {
					opts.Limit = min(limit-printed, client.MaxListLimit)
				}
				p, err := cl.List(c.Context, opts)
				if err != nil {
					_ = out.Flush()
					return err
				}
				for _, k := range p.Keys {
					_, _ = out.WriteString(cliout.OneLine(k) + "\n")
				}
				printed += len(p.Keys)
				if p.Next == "" {
					break
				}
				if limit > 0 && printed >= limit {
					if err := out.Flush(); err != nil {
						return fmt.Errorf("list: %w", err)
					}
					fmt.Fprintf(sys.stderr, "diststore: more keys follow: continue with --after %s\n", cliout.OneLine(p.Next))
					return nil
				}
				opts.After = p.Next
			}
			if err := out.Flush(); err != nil {
				return fmt.Errorf("list: %w", err)
			}
			return nil
		},
	}
}
