package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

	// Deleting again: the node answers 404, which is exit code 1.
	res = n.on(t, testSystem{}, "delete", "a/b")
	assert.Equal(t, result{code: 1, stderr: `diststore: delete "a/b": node ` + n.srv.Listener.Addr().String() + " answered 404: key not found: a/b\n"}, res)
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
