// Command diststore is the client of a diststore cluster: it stores, reads,
// deletes and lists keys through the HTTP API of the nodes --node names
// (package client: the next node when one fails), shows a node's view of
// the cluster, and saves and restores hot backups (reading backup files
// with package store). Without --node it talks to the node that
// diststored on this machine serves. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/diststore/diststore/internal/cliout"
)

// version is the CLI's version, set at build time with
// -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0 // success
	exitNotFound = 1 // get or delete of a key the cluster does not hold
	exitError    = 2 // anything else, usage errors included
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, osSystem(), os.Args)
	stop()
	os.Exit(code)
}

// run runs the CLI with args (args[0] is the program name), reports an
// error as one line on sys.stderr and returns the exit code.
func run(ctx context.Context, sys system, args []string) int {
	err := newApp(sys).RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(sys.stderr, "diststore: %s\n", cliout.OneLine(err.Error()))
	return exitCode(err)
}

// exitCode maps an error returned by the app to the process exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errNotFound):
		return exitNotFound
	}
	return exitError
}
