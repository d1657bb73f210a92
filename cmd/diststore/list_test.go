package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stretchr/testify/assert"
)

func TestList(t *testing.T) {
	n := newFakeNode(t)
	assert.Equal(t, result{code: 0}, n.on(t, testSystem{}, "list"), "no keys, no output")

	n.set("b", "1")
	n.set("a/c", "2")
	assert.Equal(t, result{code: 0, stdout: "a/c\nb\n"}, n.on(t, testSystem{}, "list"))
	assert.Equal(t, "/list", n.last(t).Path)
}

func TestList_Errors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "node shutting down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	res := runCLI(t, testSystem{}, "--node", srv.URL, "list")
	assert.Equal(t, result{code: 2, stderr: "diststore: list: node " + srv.Listener.Addr().String() + " answered 503: node shutting down\n"}, res)

	res = runCLI(t, testSystem{}, "--node", srv.URL, "list", "x")
	assert.Equal(t, result{code: 2, stderr: "diststore: list: unexpected argument \"x\" (see diststore list --help)\n"}, res)
}

// TestList_Pages: --prefix, --after and --limit page through a real
// node's keys; with --limit, a line on stderr says how to go on.
func TestList_Pages(t *testing.T) {
	n := startNode(t)
	c := nodeClient(t, n)
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
		_, err := c.Put(testCtx(t), k, []byte("v"))
		require.NoError(t, err)
	}
	assert.Equal(t, result{code: 0, stdout: "a/1\na/2\na/3\nb/1\n"}, runCLI(t, testSystem{}, "--node", n.URL, "list"))
	assert.Equal(t, result{code: 0, stdout: "a/1\na/2\na/3\n"}, runCLI(t, testSystem{}, "--node", n.URL, "list", "--prefix", "a/"))
	assert.Equal(t, result{code: 0, stdout: "a/1\na/2\n", stderr: "diststore: more keys follow: continue with --after a/2\n"},
		runCLI(t, testSystem{}, "--node", n.URL, "list", "--prefix", "a/", "--limit", "2"))
	assert.Equal(t, result{code: 0, stdout: "a/3\n"},
		runCLI(t, testSystem{}, "--node", n.URL, "list", "--prefix", "a/", "--limit", "2", "--after", "a/2"))
	assert.Equal(t, result{code: 0, stdout: "b/1\n"}, runCLI(t, testSystem{}, "--node", n.URL, "list", "--after", "a/3"))
	assert.Equal(t, result{code: 2, stderr: "diststore: list: --limit -1: want 0 or more (see diststore list --help)\n"},
		runCLI(t, testSystem{}, "--node", n.URL, "list", "--limit", "-1"))
}
