package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/nodecfg"
)

// Global flag names.
const (
	flagNode    = nodecfg.FlagNode
	flagTimeout = "timeout"
)

// envNode is the environment variable that names the node when --node is
// not given.
const envNode = nodecfg.EnvNode

// envToken is the environment variable of the client token, for a node
// that requires one. There is no flag: a command line is visible to
// every user of the machine.
const envToken = "DISTSTORE_TOKEN"

// defaultTimeout bounds one request to the node, reading its answer
// included.
const defaultTimeout = 10 * time.Second

// Limits on what is read.
const (
	// maxValueSize is the most read of a value, a listing or a status,
	// and of a value read from stdin.
	maxValueSize = 64 << 20
)

// Errors that choose the exit code.
var (
	// errNotFound is a key the node answered 404 for on get or delete;
	// the exit code is 1.
	errNotFound = errors.New("not found")
	// errUsage is a command line that cannot be run; the exit code is 2.
	errUsage = errors.New("usage")
)

// usageError is a command line that cannot be run. Its message is the
// problem alone, without the word "usage".
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Is makes errors.Is(err, errUsage) true.
func (e *usageError) Is(target error) bool { return target == errUsage }

// usagef returns a usageError; cmd, if not "", is the command whose help
// the message points to.
func usagef(cmd, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	help := "diststore --help"
	if cmd != "" {
		msg = cmd + ": " + msg
		help = "diststore " + cmd + " --help"
	}
	return &usageError{msg: msg + " (see " + help + ")"}
}

// system is everything the CLI uses of the machine besides the network:
// its standard streams, its environment and where diststored keeps its
// configuration. Tests replace every field.
type system struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// lookupEnv reads an environment variable (os.LookupEnv).
	lookupEnv func(name string) (string, bool)
	// configPaths are the diststored configuration files tried in order
	// when looking for the local node; the first that exists is read.
	configPaths []string
	// expand evaluates a go-sockaddr template (template.Parse).
	expand func(tmpl string) (string, error)
	// isTerminal reports whether w is a terminal: progress is shown on
	// standard error only if it is one.
	isTerminal func(w io.Writer) bool
}

// osSystem returns the system of the running process.
func osSystem() system {
	return system{
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		lookupEnv:   os.LookupEnv,
		configPaths: nodecfg.DefaultPaths(),
		expand:      template.Parse,
		isTerminal: func(w io.Writer) bool {
			f, ok := w.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
	}
}

// newApp returns the diststore CLI on sys. Errors are returned from Run,
// never printed nor turned into an exit by the cli package: run does that.
//
// urfave/cli/v2 writes to its global help flag while parsing, so two apps
// must not Run at the same time; tests run one after the other.
func newApp(sys system) *cli.App {
	app := &cli.App{
		Name:      "diststore",
		Usage:     "store, read and list keys of a diststore cluster",
		UsageText: "diststore [--node NODE[,NODE...]] [--timeout DURATION] COMMAND [options] [arguments]",
		Description: "Talks to the cluster over HTTP through the nodes --node names, the next one when one\n" +
			"fails (a conditional write is not sent twice). Without --node (or " + envNode + ") it is\n" +
			"the node diststored on this machine serves: the address and port of DISTSTORE_BIND\n" +
			"and DISTSTORE_HTTP_PORT, else of bind and http_port in the file $DISTSTORE_CONFIG\n" +
			"or the first existing of ./diststored.cfg, /usr/local/etc/diststored.cfg,\n" +
			"/etc/diststored.cfg, else " + nodecfg.DefaultBind + " and port " + strconv.Itoa(nodecfg.DefaultHTTPPort) + ".\n" +
			"A node that requires a client token gets the one in " + envToken + ".\n\n" +
			"Exit status: 0 success, 1 key not found (get, delete), 2 any other error.",
		Version:     version,
		HideVersion: true, // the version command says it
		Reader:      sys.stdin,
		Writer:      sys.stdout,
		ErrWriter:   sys.stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  flagNode,
				Usage: "the nodes to talk to, comma-separated: each `URL` http://host:port, or host:port, or host (port " + strconv.Itoa(nodecfg.DefaultHTTPPort) + "); env " + envNode + "; default: the local node",
			},
			&cli.DurationFlag{
				Name:  flagTimeout,
				Value: defaultTimeout,
				Usage: timeoutUsage,
			},
		},
		Commands: []*cli.Command{
			putCommand(sys),
			getCommand(sys),
			deleteCommand(sys),
			listCommand(sys),
			statusCommand(sys),
			backupCommand(sys),
			restoreCommand(sys),
			keygenCommand(sys),
			versionCommand(sys),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("", "unknown command %q", c.Args().First())
			}
			_ = cli.ShowAppHelp(c)
			return usagef("", "no command given")
		},
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run maps errors to exit codes
	}
	// A command's help shows its own options only: say where the global
	// ones are.
	for _, cmd := range app.Commands {
		if cmd.Name == "keygen" || cmd.Name == "version" { // they ask no node
			continue
		}
		if cmd.Description != "" {
			cmd.Description += "\n\n"
		}
		cmd.Description += globalOptionsHelp
	}
	return app
}

// timeoutUsage is the help of --timeout.
const timeoutUsage = "give up on a node after `DURATION` without its answer to a request, reading the " +
	"answer included (backup, restore: without its next bytes); 0 means never"

// globalOptionsHelp ends the help of every command that asks a node.
var globalOptionsHelp = "Global options go before the command (diststore --timeout 30s COMMAND ...):\n" +
	"  --node NODE[,NODE...]  the nodes to talk to; env " + envNode + "; default: the local node\n" +
	"  --timeout DURATION     give up on a node after DURATION without its answer to a request,\n" +
	"                         reading the answer included (backup, restore: without its next\n" +
	"                         bytes); 0 means never; default " + defaultTimeout.String()

// onUsageError turns a flag the cli package could not parse into a
// one-line usageError, without printing the help.
func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	cmd := ""
	if isSubcommand && c.Command != nil {
		cmd = c.Command.Name
	}
	return usagef(cmd, "%v", err)
}

// needArgs checks that the command c got between min and max arguments
// (names, for the messages, are those of the arguments in order) and
// returns them.
func needArgs(c *cli.Context, names ...string) ([]string, error) {
	return argsRange(c, len(names), names...)
}

// argsRange is needArgs with the last len(names)-min arguments optional.
func argsRange(c *cli.Context, min int, names ...string) ([]string, error) {
	got := c.Args().Slice()
	name := c.Command.Name
	if len(got) < min {
		return nil, usagef(name, "missing %s", names[len(got)])
	}
	if len(got) > len(names) {
		extra := got[len(names)]
		if len(extra) > 1 && extra[0] == '-' {
			return nil, usagef(name, "unexpected argument %q: options go before the arguments", extra)
		}
		return nil, usagef(name, "unexpected argument %q", extra)
	}
	for i, a := range got {
		if a == "" && names[i] == "KEY" { // an empty VALUE is a value
			return nil, usagef(name, "empty KEY")
		}
	}
	return got, nil
}

// client returns the client of the nodes the global flags and the
// environment name.
func (sys system) client(c *cli.Context) (*client.Client, error) {
	timeout := c.Duration(flagTimeout)
	if timeout < 0 {
		return nil, usagef("", "--%s %s: negative", flagTimeout, timeout)
	}
	if timeout == 0 {
		timeout = -1 // never: the client's 0 is its default
	}
	urls, err := sys.finder().FindAll(c.String(flagNode))
	if err != nil {
		return nil, err
	}
	nodes := make([]string, len(urls))
	for i, u := range urls {
		nodes[i] = u.String()
	}
	token, _ := sys.lookupEnv(envToken)
	return client.New(client.Config{Nodes: nodes, Token: token, Timeout: timeout,
		MaxValueSize: maxValueSize, UserAgent: "diststore/" + version})
}

// finder returns the node finder of sys.
func (sys system) finder() nodecfg.Finder {
	return nodecfg.Finder{LookupEnv: sys.lookupEnv, ConfigPaths: sys.configPaths, Expand: sys.expand}
}

// notFound marks a key not found (404) on get or delete as errNotFound,
// for the exit code; it returns other errors as they are.
func notFound(err error) error {
	if errors.Is(err, client.ErrNotFound) {
		return &notFoundError{err: err}
	}
	return err
}

// notFoundError is a 404 on a key: its message is the node's answer, and
// errors.Is(err, errNotFound) is true.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string   { return e.err.Error() }
func (e *notFoundError) Unwrap() []error { return []error{e.err, errNotFound} }
