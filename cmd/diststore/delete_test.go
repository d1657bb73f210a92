package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDelete(t *testing.T) {
	n := newFakeNode(t)
	n.set("a/b", "v")
	res := n.on(t, testSystem{}, "delete", "a/b")
	assert.Equal(t, result{code: 0, stdout: "deleted on 127.0.2.1, 127.0.2.2\n"}, res)
	req := n.last(t)
	assert.Equal(t, "DELETE", req.Method)
	assert.Equal(t, "/a%2Fb", req.Path)
	assert.Empty(t, req.IfMatch)

	// Deleting again: the node answers 200 but says the key did not
	// exist, which is exit code 1.
	res = n.on(t, testSystem{}, "delete", "a/b")
	assert.Equal(t, result{code: 1, stderr: `diststore: delete "a/b": not found: the key did not exist (node ` + n.srv.Listener.Addr().String() + ")\n"}, res)
}

// TestDelete_OldNode: a node that does not say whether the key existed
// gives exit code 0, as the help says.
func TestDelete_OldNode(t *testing.T) {
	n := newFakeNode(t)
	n.oldNode = true
	assert.Equal(t, result{code: 0, stdout: "deleted on 127.0.2.1, 127.0.2.2\n"}, n.on(t, testSystem{}, "delete", "never-stored"))
}

// TestDelete_RealNode: the exit codes against a real node.
func TestDelete_RealNode(t *testing.T) {
	node := startNode(t)
	run := func(args ...string) result {
		return runCLI(t, testSystem{}, append([]string{"--node", node.URL}, args...)...)
	}
	res := run("put", "k", "v")
	require.Equal(t, 0, res.code, res.stderr)
	res = run("delete", "k")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "deleted on 127.0.0.1")
	res = run("delete", "k")
	assert.Equal(t, 1, res.code, "deleted already")
	assert.Contains(t, res.stderr, `delete "k": not found: the key did not exist`)
	res = run("delete", "never-stored")
	assert.Equal(t, 1, res.code, "never stored")
	res = run("delete", "--if-match", "*", "never-stored")
	assert.Equal(t, 2, res.code, "a condition that fails")
	assert.Contains(t, res.stderr, "412")

	// Keys named as the endpoints are keys like any other.
	for _, key := range []string{"delete", "status", "get/x", "delete/x", "admin/restore"} {
		res = run("put", key, "v-"+key)
		require.Equal(t, 0, res.code, "put %s: %s", key, res.stderr)
		assert.Equal(t, result{code: 0, stdout: "v-" + key}, run("get", key), "get %s", key)
		res = run("delete", key)
		assert.Equal(t, 0, res.code, "delete %s: %s", key, res.stderr)
	}
}

func TestDelete_IfMatch(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "v")
	res := n.on(t, testSystem{}, "delete", "--if-match", "v9", "k")
	assert.Equal(t, result{code: 2, stderr: `diststore: delete "k": node ` + n.srv.Listener.Addr().String() + " answered 412: version mismatch\n"}, res)
	assert.Equal(t, `"v9"`, n.last(t).IfMatch)

	res = n.on(t, testSystem{}, "delete", "--if-match", `"v1"`, "k")
	assert.Equal(t, result{code: 0, stdout: "deleted on 127.0.2.1, 127.0.2.2\n"}, res)
	assert.Equal(t, `"v1"`, n.last(t).IfMatch)
}

func TestDelete_UsageErrors(t *testing.T) {
	n := newFakeNode(t)
	assert.Equal(t, result{code: 2, stderr: "diststore: delete: missing KEY (see diststore delete --help)\n"}, n.on(t, testSystem{}, "delete"))
	assert.Equal(t, result{code: 2, stderr: "diststore: delete: --if-match: empty ETAG (see diststore delete --help)\n"}, n.on(t, testSystem{}, "delete", "--if-match", "", "k"))
	assert.Zero(t, n.count())
}
