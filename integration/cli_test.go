package integration

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runCLI runs the diststore client against node n and returns its stdout,
// stderr and exit code.
func runCLI(t *testing.T, n *node, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, clientPath, append([]string{"--node", n.addr}, args...)...)
	cmd.Env = daemonEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("diststore %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// TestCLI_AgainstCluster drives a cluster with the diststore client as a
// user would from a shell.
func TestCLI_AgainstCluster(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	a, b := c.nodes[0], c.nodes[2]

	out, errOut, code := runCLI(t, a, "", "put", "greeting", "hello")
	require.Equal(t, 0, code, "put: %s", errOut)
	assert.Contains(t, out, "stored on "+masters[0])

	binary := "line one\nline two\x00\xff"
	_, errOut, code = runCLI(t, b, binary, "put", "from/stdin")
	require.Equal(t, 0, code, "put from stdin: %s", errOut)

	out, _, code = runCLI(t, b, "", "get", "greeting")
	assert.Equal(t, 0, code)
	assert.Equal(t, "hello", out, "get prints the value exactly")
	out, _, code = runCLI(t, a, "", "get", "from/stdin")
	assert.Equal(t, 0, code)
	assert.Equal(t, binary, out)

	_, errOut, code = runCLI(t, a, "", "get", "no-such-key")
	assert.Equal(t, 1, code, "not found exits 1")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)

	out, _, code = runCLI(t, a, "", "list")
	assert.Equal(t, 0, code)
	assert.Contains(t, strings.Split(strings.TrimSpace(out), "\n"), "greeting")

	out, _, code = runCLI(t, b, "", "status")
	assert.Equal(t, 0, code)
	for _, n := range c.nodes {
		assert.Contains(t, out, n.addr)
	}
	assert.Contains(t, out, "master")

	_, errOut, code = runCLI(t, b, "", "delete", "greeting")
	require.Equal(t, 0, code, "delete: %s", errOut)
	_, _, code = runCLI(t, a, "", "get", "greeting")
	assert.Equal(t, 1, code, "deleted key is not found")
	_, errOut, code = runCLI(t, a, "", "delete", "greeting")
	assert.Equal(t, 1, code, "deleting a key that is gone exits 1, as the help says: %s", errOut)
	assert.Contains(t, errOut, "the key did not exist")

	_, errOut, code = runCLI(t, a, "", "get", "bad key")
	assert.Equal(t, 2, code, "a bad key is an error: %s", errOut)

	out, _, code = runCLI(t, a, "", "version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "diststore "), "%q", out)
}
