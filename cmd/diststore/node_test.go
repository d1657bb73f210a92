package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/internal/nodecfg"
)

// writeConfig writes a config file in a temporary directory and returns
// its path.
func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "diststored.cfg")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// TestLocalNode runs a command without --node against the node the
// environment or the config file names.
func TestLocalNode(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "from the local node")

	env := map[string]string{nodecfg.EnvBind: "127.0.0.1", nodecfg.EnvHTTPPort: n.port()}
	assert.Equal(t, result{code: 0, stdout: "from the local node"}, runCLI(t, testSystem{env: env}, "get", "k"))

	cfg := writeConfig(t, "[diststored]\nbind = 127.0.0.1\nhttp_port = "+n.port()+"\n")
	assert.Equal(t, result{code: 0, stdout: "from the local node"}, runCLI(t, testSystem{configPaths: []string{cfg}}, "get", "k"))

	assert.Equal(t, result{code: 0, stdout: "from the local node"},
		runCLI(t, testSystem{env: map[string]string{nodecfg.EnvNode: n.url()}}, "get", "k"))

	res := runCLI(t, testSystem{}, "get", "k")
	assert.Equal(t, result{code: 2, stderr: "diststore: finding the local node: default bind '{{ GetPrivateIP }}': " +
		"not an IP address nor a valid go-sockaddr template: no templates in this test; name a node with --node or DISTSTORE_NODE\n"}, res)
}
