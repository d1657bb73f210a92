package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
