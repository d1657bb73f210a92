package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/cliout"
)

// putCommand stores a value: POST /<key>.
func putCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "store VALUE, or standard input, under KEY on the node and every master",
		ArgsUsage: "KEY [VALUE]",
		Description: "Without VALUE the value is all of standard input, stored verbatim, byte for byte:\n" +
			"a trailing newline is part of the value (echo hello | diststore put greeting stores\n" +
			"6 bytes, \"hello\\n\"). To store what VALUE would, without the newline:\n" +
			"  printf %s hello | diststore put greeting\n" +
			"  diststore put greeting < file\n" +
			"On success it prints the node's answer, which names the masters that hold the value.\n" +
			"With --if-match or --if-absent, a condition that fails is exit status 2 (412) and\n" +
			"nothing is stored; such a write is never sent twice.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "ttl", Usage: "let the key expire after `DURATION` (30s, 1h)"},
			&cli.StringFlag{Name: "if-match", Usage: "store only if the key's current version is `ETAG` (as get -v prints it; \"*\": if it exists); else exit 2 with \"412\""},
			&cli.BoolFlag{Name: "if-absent", Usage: "store only if the key does not exist yet; else exit 2 with \"412\""},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			a, err := argsRange(c, 1, "KEY", "VALUE")
			if err != nil {
				return err
			}
			key := a[0]
			if c.IsSet("if-match") && c.Bool("if-absent") {
				return usagef("put", "--if-match and --if-absent exclude each other")
			}
			var opts []client.WriteOption
			if c.IsSet("ttl") {
				ttl := c.Duration("ttl")
				if ttl <= 0 {
					return usagef("put", "--ttl %s: want a positive duration", ttl)
				}
				opts = append(opts, client.WithTTL(ttl))
			}
			if c.IsSet("if-match") {
				etag := c.String("if-match")
				if etag == "" {
					return usagef("put", "--if-match: empty ETAG")
				}
				opts = append(opts, client.IfMatch(etag))
			}
			if c.Bool("if-absent") {
				opts = append(opts, client.IfAbsent())
			}

			cl, err := sys.client(c) // before reading stdin: fail before the user types
			if err != nil {
				return err
			}
			defer cl.Close()
			var value []byte
			if len(a) == 2 {
				value = []byte(a[1])
			} else if value, err = readValue(sys.stdin); err != nil {
				return fmt.Errorf("put %q: %w", key, err)
			}
			res, err := cl.Put(c.Context, key, value, opts...)
			if err != nil {
				return err
			}
			return cliout.PrintLine(sys.stdout, []byte(res.Message))
		},
	}
}

// readValue reads all of r, at most maxValueSize bytes.
func readValue(r io.Reader) ([]byte, error) {
	if r == nil {
		return []byte{}, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, maxValueSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the value from standard input: %w", err)
	}
	if len(data) > maxValueSize {
		return nil, fmt.Errorf("value on standard input larger than %s", sizeString(maxValueSize))
	}
	return data, nil
}

// sizeString formats n bytes for a message: 64 MiB, 4 KiB, 12 bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
