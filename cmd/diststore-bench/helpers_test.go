package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests do not call t.Parallel: urfave/cli/v2 writes to its global
// help flag whenever an app parses its flags.

// fakeNode mimics the part of a node's HTTP API that the bench loads, on a
// loopback httptest server.
type fakeNode struct {
	srv *httptest.Server

	mu       sync.Mutex        // guards the fields below
	values   map[string][]byte // key → value
	requests []seen            // every request, in order
	// delay is how long each request waits before it is answered.
	delay time.Duration
}

// seen is a request as the fake node received it.
type seen struct {
	Method, Path string // Path is escaped
}

// newFakeNode starts a fake node on 127.0.0.1 that is closed when the
// test ends.
func newFakeNode(t testing.TB) *fakeNode {
	t.Helper()
	n := &fakeNode{values: map[string][]byte{}}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	return n
}

// url returns the node's base URL, http://127.0.0.1:port.
func (n *fakeNode) url() string { return n.srv.URL }

// set stores a value as a write would.
func (n *fakeNode) set(key, value string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.values[key] = []byte(value)
}

// count returns how many requests the node received.
func (n *fakeNode) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.requests)
}

func (n *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := r.URL.EscapedPath()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.delay > 0 {
		time.Sleep(n.delay) // a slow node: requests queue behind this one
	}
	n.requests = append(n.requests, seen{Method: r.Method, Path: p})
	key := func(prefix string) (string, bool) {
		k, err := url.PathUnescape(strings.TrimPrefix(p, prefix))
		if err != nil || k == "" {
			http.Error(w, "bad key: "+p, http.StatusBadRequest)
			return "", false
		}
		return k, true
	}
	switch {
	case r.Method == http.MethodGet && (strings.HasPrefix(p, "/get/") || strings.HasPrefix(p, "/getlocal/")):
		prefix := "/get/"
		if strings.HasPrefix(p, "/getlocal/") {
			prefix = "/getlocal/"
		}
		k, ok := key(prefix)
		if !ok {
			return
		}
		v, held := n.values[k]
		if !held {
			http.Error(w, "key not found: "+k, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(v)
	case r.Method == http.MethodGet && p == "/list":
		keys := make([]string, 0, len(n.values))
		for k := range n.values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintln(w, k)
		}
	case r.Method == http.MethodPost && p != "/":
		k, ok := key("/")
		if !ok {
			return
		}
		n.values[k] = body
		_, _ = io.WriteString(w, "stored on 127.0.2.1, 127.0.2.2\n")
	default:
		http.NotFound(w, r)
	}
}

// result is what a user sees of one run.
type result struct {
	code           int
	stdout, stderr string
}

// runTool runs diststore-bench with args (without the program name), with
// no environment, config file or templates, and returns what it printed
// and its exit code.
func runTool(t testing.TB, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sys := system{
		stdout:    &stdout,
		stderr:    &stderr,
		lookupEnv: func(string) (string, bool) { return "", false },
		expand: func(string) (string, error) {
			return "", errors.New("no templates in this test")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, sys, append([]string{"diststore-bench"}, args...))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// deadNode returns the URL of a loopback port nothing listens on.
func deadNode(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}
