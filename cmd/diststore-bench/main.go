// Command diststore-bench is a developer's load generator for a diststore
// cluster's HTTP API: closed-loop connections send requests to one or more
// nodes and it reports requests/s and latency, as a table or one JSON
// object. make bench (scripts/bench.sh) runs it; it is not part of the
// Debian package.
//
//	diststore-bench [--node URL] [--timeout DURATION] [--op OP] [options] [URL...]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/internal/cliout"
	"github.com/diststore/diststore/internal/nodecfg"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

// Flags that name the node and bound a request, as the diststore CLI's.
const (
	flagNode    = nodecfg.FlagNode
	flagTimeout = "timeout"
)

// defaultTimeout bounds one request.
const defaultTimeout = 10 * time.Second

// Exit codes.
const (
	exitOK    = 0
	exitError = 2 // usage errors included
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, osSystem(), os.Args)
	stop()
	os.Exit(code)
}

// system is what the tool uses of the machine besides the network. Tests
// replace every field.
type system struct {
	stdout io.Writer
	stderr io.Writer
	// lookupEnv reads an environment variable (os.LookupEnv).
	lookupEnv func(name string) (string, bool)
	// configPaths are the diststored configuration files tried in order
	// when looking for the local node.
	configPaths []string
	// expand evaluates a go-sockaddr template (template.Parse).
	expand func(tmpl string) (string, error)
}

func osSystem() system {
	return system{
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		lookupEnv:   os.LookupEnv,
		configPaths: nodecfg.DefaultPaths(),
		expand:      template.Parse,
	}
}

// finder returns the node finder of sys.
func (sys system) finder() nodecfg.Finder {
	return nodecfg.Finder{LookupEnv: sys.lookupEnv, ConfigPaths: sys.configPaths, Expand: sys.expand}
}

// run runs the tool with args (args[0] is the program name), reports an
// error as one line on sys.stderr and returns the exit code.
func run(ctx context.Context, sys system, args []string) int {
	err := newApp(sys).RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(sys.stderr, "diststore-bench: %s\n", cliout.OneLine(err.Error()))
	return exitError
}

// usagef returns the error of a command line that cannot be run, pointing
// to the help.
func usagef(format string, args ...any) error {
	return errors.New(fmt.Sprintf(format, args...) + " (see diststore-bench --help)")
}

// onUsageError turns a flag the cli package could not parse into a
// one-line usageError, without printing the help.
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usagef("%v", err)
}
