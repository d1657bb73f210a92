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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests do not call t.Parallel: urfave/cli/v2 writes to its global
// help flag whenever an app parses its flags.

// fakeNode mimics a node's HTTP API on a loopback httptest server.
type fakeNode struct {
	srv *httptest.Server

	mu       sync.Mutex        // guards the fields below
	values   map[string][]byte // key → value
	versions map[string]int    // key → version, the ETag is "v<n>"
	requests []seen            // every request, in order
	// failWrites, if not "", is the body of a 503 every write answers.
	failWrites string
	// status is what GET /status answers, verbatim.
	status string
	// oldNode: a delete's answer does not say whether the key existed,
	// as a node before X-Diststore-Existed, or the original.
	oldNode bool
}

// seen is a request as the fake node received it.
type seen struct {
	Method, Path, Query  string // Path is escaped
	IfMatch, IfNoneMatch string
	Authorization        string
	Body                 []byte
}

// newFakeNode starts a fake node on 127.0.0.1 that is closed when the
// test ends.
func newFakeNode(t testing.TB) *fakeNode {
	t.Helper()
	n := &fakeNode{values: map[string][]byte{}, versions: map[string]int{}}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	return n
}

// url returns the node's base URL, http://127.0.0.1:port.
func (n *fakeNode) url() string { return n.srv.URL }

// port returns the node's port.
func (n *fakeNode) port() string {
	u, _ := url.Parse(n.srv.URL)
	return u.Port()
}

// set stores a value as a write would.
func (n *fakeNode) set(key, value string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.values[key] = []byte(value)
	n.versions[key]++
}

// last returns the last request the node received.
func (n *fakeNode) last(t testing.TB) seen {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.requests) == 0 {
		t.Fatal("the node received no request")
	}
	return n.requests[len(n.requests)-1]
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
	n.requests = append(n.requests, seen{
		Method: r.Method, Path: p, Query: r.URL.RawQuery,
		IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match"),
		Authorization: r.Header.Get("Authorization"),
		Body:          body,
	})
	etag := func(key string) string { return `"v` + strconv.Itoa(n.versions[key]) + `"` }
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
		prefix, src := "/get/", "peer"
		if strings.HasPrefix(p, "/getlocal/") {
			prefix, src = "/getlocal/", "local"
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
		w.Header().Set("ETag", etag(k))
		w.Header().Set("X-Diststore-Source", src)
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
	case r.Method == http.MethodGet && p == "/status":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, n.status)
	case r.Method == http.MethodPost && p != "/":
		k, ok := key("/")
		if !ok {
			return
		}
		if n.failWrites != "" {
			http.Error(w, n.failWrites, http.StatusServiceUnavailable)
			return
		}
		_, held := n.values[k]
		if im := r.Header.Get("If-Match"); im != "" && (!held || im != etag(k)) {
			http.Error(w, "version mismatch", http.StatusPreconditionFailed)
			return
		}
		if r.Header.Get("If-None-Match") == "*" && held {
			http.Error(w, "key exists", http.StatusPreconditionFailed)
			return
		}
		n.values[k] = body
		n.versions[k]++
		w.Header().Set("ETag", etag(k))
		_, _ = io.WriteString(w, "stored on 127.0.2.1, 127.0.2.2\n")
	case r.Method == http.MethodDelete && p != "/":
		k, ok := key("/")
		if !ok {
			return
		}
		// As a node does: 200 whether or not the key existed, and
		// X-Diststore-Existed says which (an old node does not).
		_, held := n.values[k]
		if im := r.Header.Get("If-Match"); im != "" && (!held || im != "*" && im != etag(k)) {
			http.Error(w, "version mismatch", http.StatusPreconditionFailed)
			return
		}
		delete(n.values, k)
		if !n.oldNode {
			w.Header().Set("X-Diststore-Existed", strconv.FormatBool(held))
		}
		_, _ = io.WriteString(w, "deleted on 127.0.2.1, 127.0.2.2\n")
	default:
		http.NotFound(w, r)
	}
}

// testSystem is the machine a test runs the CLI on.
type testSystem struct {
	stdin       io.Reader
	env         map[string]string
	configPaths []string
	// expand evaluates templates; nil fails every template, so that no
	// test depends on the addresses of the machine it runs on.
	expand func(string) (string, error)
	// terminal makes standard error a terminal, for progress.
	terminal bool
}

// result is what a user sees of one run.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs diststore with args (without the program name) on ts and
// returns what it printed and its exit code.
func runCLI(t testing.TB, ts testSystem, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sys := system{
		stdin:  ts.stdin,
		stdout: &stdout,
		stderr: &stderr,
		lookupEnv: func(name string) (string, bool) {
			v, ok := ts.env[name]
			return v, ok
		},
		configPaths: ts.configPaths,
		expand:      ts.expand,
		isTerminal:  func(io.Writer) bool { return ts.terminal },
	}
	if sys.stdin == nil {
		sys.stdin = strings.NewReader("")
	}
	if sys.expand == nil {
		sys.expand = func(tmpl string) (string, error) {
			return "", errors.New("no templates in this test")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, sys, append([]string{"diststore"}, args...))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// on runs diststore with --node naming n.
func (n *fakeNode) on(t testing.TB, ts testSystem, args ...string) result {
	t.Helper()
	return runCLI(t, ts, append([]string{"--node", n.url()}, args...)...)
}

// deadNode returns the URL of a loopback port nothing listens on.
func deadNode(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}
