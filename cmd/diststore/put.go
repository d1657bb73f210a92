package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/internal/cliout"
)

// putCommand stores a value: POST /<key>.
func putCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "store VALUE, or standard input, under KEY on the node and every master",
		ArgsUsage: "KEY [VALUE]",
		Description: "Without VALUE the value is all of standard input, byte for byte. On success it\n" +
			"prints the node's answer, which names the masters that hold the value.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "ttl", Usage: "let the key expire after `DURATION` (30s, 1h)"},
			&cli.StringFlag{Name: "if-match", Usage: "store only if the key's current version is `ETAG` (as get -v prints it)"},
			&cli.BoolFlag{Name: "if-absent", Usage: "store only if the key does not exist yet"},
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
			path := keyPath("/", key)
			if c.IsSet("ttl") {
				ttl := c.Duration("ttl")
				if ttl <= 0 {
					return usagef("put", "--ttl %s: want a positive duration", ttl)
				}
				path += "?" + url.Values{"ttl": {ttl.String()}}.Encode()
			}
			header := http.Header{}
			if c.IsSet("if-match") {
				etag := c.String("if-match")
				if etag == "" {
					return usagef("put", "--if-match: empty ETAG")
				}
				header.Set("If-Match", quoteETag(etag))
			}
			if c.Bool("if-absent") {
				header.Set("If-None-Match", "*")
			}

			cl, err := sys.client(c) // before reading stdin: fail before the user types
			if err != nil {
				return err
			}
			defer cl.close()
			var value []byte
			if len(a) == 2 {
				value = []byte(a[1])
			} else if value, err = readValue(sys.stdin); err != nil {
				return fmt.Errorf("put %q: %w", key, err)
			}
			resp, err := cl.do(c.Context, request{
				op:     fmt.Sprintf("put %q", key),
				method: http.MethodPost,
				path:   path,
				header: header,
				body:   value,
				limit:  maxMessageSize,
			})
			if err != nil {
				return err
			}
			return cliout.PrintLine(sys.stdout, resp.body)
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

// quoteETag returns etag as an If-Match header takes it: quoted, as the
// node sends it, unless it is already quoted, weak or "*". A shell eats
// the quotes of "v" unless they are escaped, so both forms are taken.
func quoteETag(etag string) string {
	if etag == "*" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}
