package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/cliout"
)

func TestExitCode(t *testing.T) {
	nf := notFound(&client.StatusError{Op: `get "k"`, Node: "n", Code: 404, Msg: "key not found: k"})
	assert.Equal(t, exitOK, exitCode(nil))
	assert.Equal(t, exitNotFound, exitCode(nf))
	assert.Equal(t, exitNotFound, exitCode(fmt.Errorf("wrapped: %w", nf)))
	assert.Equal(t, exitError, exitCode(&client.StatusError{Code: 503}))
	assert.Equal(t, exitError, exitCode(notFound(&client.StatusError{Code: 503})), "only a 404 is not found")
	assert.Equal(t, exitError, exitCode(usagef("get", "missing KEY")))
	assert.Equal(t, exitError, exitCode(errors.New("anything")))
	assert.True(t, errors.Is(usagef("", "x"), errUsage))
}

func TestRun_Usage(t *testing.T) {
	res := runCLI(t, testSystem{}, "frobnicate")
	assert.Equal(t, result{code: 2, stderr: "diststore: unknown command \"frobnicate\" (see diststore --help)\n"}, res)

	res = runCLI(t, testSystem{}, "--bogus", "list")
	assert.Equal(t, result{code: 2, stderr: "diststore: flag provided but not defined: -bogus (see diststore --help)\n"}, res)

	res = runCLI(t, testSystem{}, "--timeout", "-1s", "list")
	assert.Equal(t, result{code: 2, stderr: "diststore: --timeout -1s: negative (see diststore --help)\n"}, res)

	// No command: the help on stdout, one line on stderr.
	res = runCLI(t, testSystem{})
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stdout, "COMMANDS:")
	assert.Equal(t, "diststore: no command given (see diststore --help)\n", res.stderr)
}

func TestRun_Help(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"get", "--help"}, {"help", "put"}} {
		res := runCLI(t, testSystem{}, args...)
		assert.Equal(t, 0, res.code, "%v: %s", args, res.stderr)
		assert.Contains(t, res.stdout, "USAGE:", "%v", args)
		assert.Empty(t, res.stderr, "%v", args)
	}
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, "a b  c", cliout.OneLine(" a\nb\r\tc\n"))
	assert.False(t, strings.ContainsAny(cliout.OneLine("x\x00\x1b\x7fy"), "\x00\x1b\x7f"))
}

// TestRun_NoBench: the load generator is a developer tool of its own,
// cmd/diststore-bench, not a command of the user's CLI.
func TestRun_NoBench(t *testing.T) {
	res := runCLI(t, testSystem{}, "bench")
	assert.Equal(t, result{code: 2, stderr: "diststore: unknown command \"bench\" (see diststore --help)\n"}, res)
}

// TestRun_Help_SaysWhatTheOptionsDo: each command's help names the
// options it takes and the global ones, and the rules a user trips on.
func TestRun_Help_SaysWhatTheOptionsDo(t *testing.T) {
	help := func(cmd string) string {
		res := runCLI(t, testSystem{}, cmd, "--help")
		require.Equal(t, 0, res.code, res.stderr)
		return res.stdout
	}
	for _, cmd := range []string{"put", "get", "delete", "list", "status", "backup", "restore"} {
		h := help(cmd)
		assert.Contains(t, h, "--timeout DURATION", "%s --help", cmd)
		assert.Contains(t, h, "--node NODE", "%s --help", cmd)
	}
	put := help("put")
	assert.Contains(t, put, "stored verbatim")
	assert.Contains(t, put, "printf %s hello | diststore put greeting")
	assert.Contains(t, put, "diststore put greeting < file")
	assert.Contains(t, put, `--if-match ETAG  store only if the key's current version is ETAG`)
	assert.Contains(t, put, "exit 2")
	del := help("delete")
	assert.Contains(t, del, "Exit status 1 if the key did not exist")
	assert.Contains(t, del, `--if-match ETAG  delete only if the key's current version is ETAG`)
	assert.NotContains(t, help("version"), "--timeout", "version asks no node")
	top := runCLI(t, testSystem{}, "--help").stdout
	assert.Contains(t, top, "--timeout DURATION  give up on a node after DURATION")
}
