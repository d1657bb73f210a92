package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/internal/cliout"
)

// statusCommand shows the node's view of the cluster: GET /status.
func statusCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:         "status",
		Usage:        "show the cluster as the node sees it: members, masters, key counts",
		ArgsUsage:    " ",
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the node's JSON as it is"}},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if _, err := needArgs(c); err != nil {
				return err
			}
			cl, err := sys.client(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			st, err := cl.Status(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return cliout.PrintLine(sys.stdout, st.JSON)
			}
			return writeStatus(sys.stdout, st.Status)
		},
	}
}

// writeStatus prints st as a table of members followed by the masters,
// the epoch and this node's state:
//
//	NODE       ROLE    KEYS  FOUND
//	127.0.2.1  master  3           (this node)
//	127.0.2.3  —       1     join
//
//	masters: 127.0.2.1, 127.0.2.2
//	epoch:   4
//	...
//
// Original pydiststore nodes on the group have the role "original"; a
// last line says whether the masters hold all their keys. FOUND says how
// the node first heard of each member: group, join or gossip.
func writeStatus(w io.Writer, st api.Status) error {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tKEYS\tFOUND\t")
	for _, m := range st.Members {
		role := "—"
		if m.Master {
			role = "master"
			if !m.Synced {
				role = "master (syncing)"
			}
		}
		self := ""
		if m.Addr == st.Addr {
			self = "(this node)"
		}
		if m.Kind == api.KindOriginal {
			role = "original"
			if m.Missing > 0 {
				self = fmt.Sprintf("(%d not yet copied here)", m.Missing)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", cliout.OneLine(m.Addr), role, m.Keys, cliout.OneLine(m.Found), self)
	}
	_ = tw.Flush() // cannot fail on a bytes.Buffer
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		if line != "" {
			if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
				return err
			}
		}
	}
	if len(st.Members) == 0 {
		fmt.Fprintln(w, "(no members known yet)")
	}

	masters := "none known"
	if len(st.Masters) > 0 {
		masters = cliout.OneLine(strings.Join(st.Masters, ", "))
	}
	ready := "no: masters not known yet"
	if st.Ready {
		ready = "yes"
	}
	secure := "no cluster key: any host on the LAN can join"
	if st.Secure {
		secure = "cluster key"
		if st.ClientTokens {
			secure += ", client tokens"
		}
	}
	_, err := fmt.Fprintf(w, "\nmasters: %s\nepoch:   %d\nnode:    %s, %d keys, ready: %s\nreads:   %d local, %d from peers, %d missed\nsecure:  %s\n",
		masters, st.Epoch, cliout.OneLine(st.Addr), st.Keys, ready, st.Local, st.Remote, st.Misses, secure)
	if err != nil || st.Migration == nil {
		return err
	}
	copied := "yes: the original nodes can be stopped"
	if !st.Migration.Done {
		copied = "not yet"
		if len(st.Migration.Pending) > 0 {
			copied += ", waiting for " + cliout.OneLine(strings.Join(st.Migration.Pending, ", "))
		}
	}
	_, err = fmt.Fprintf(w, "originals: %d on the group, %d keys; every key on every master: %s\n",
		st.Migration.Originals, st.Migration.OriginalKeys, copied)
	return err
}
