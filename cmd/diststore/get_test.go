package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGet_Value(t *testing.T) {
	n := newFakeNode(t)
	n.set("bin", "\x00\xffno newline")
	res := n.on(t, testSystem{}, "get", "bin")
	assert.Equal(t, result{code: 0, stdout: "\x00\xffno newline"}, res)
	assert.Equal(t, "/get/bin", n.last(t).Path)
}

func TestGet_LocalAndVerbose(t *testing.T) {
	n := newFakeNode(t)
	n.set("a/b", "v")
	res := n.on(t, testSystem{}, "get", "--local", "-v", "a/b")
	assert.Equal(t, result{code: 0, stdout: "v", stderr: "ETag: \"v1\"\nX-Diststore-Source: local\n"}, res)
	assert.Equal(t, "/getlocal/a%2Fb", n.last(t).Path)

	res = n.on(t, testSystem{}, "get", "--verbose", "a/b")
	assert.Equal(t, result{code: 0, stdout: "v", stderr: "ETag: \"v1\"\nX-Diststore-Source: peer\n"}, res)
}

func TestGet_NotFound(t *testing.T) {
	n := newFakeNode(t)
	res := n.on(t, testSystem{}, "get", "nope")
	assert.Equal(t, result{code: 1, stderr: `diststore: get "nope": node ` + n.srv.Listener.Addr().String() + " answered 404: key not found: nope\n"}, res)
}

func TestGet_Errors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		stderr  string // after "diststore: ", with NODE for host:port
	}{
		{
			name: "503 with a body",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "not ready: masters not known yet\nsecond line", http.StatusServiceUnavailable)
			},
			stderr: `get "k": node NODE answered 503: not ready: masters not known yet`,
		},
		{
			name:    "500 without a body",
			handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
			stderr:  `get "k": node NODE answered 500: internal server error`,
		},
		{
			name: "error body with control characters",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("\n\n  master\x1b[31m 127.0.2.2\trefused  \n"))
			},
			stderr: `get "k": node NODE answered 502: master [31m 127.0.2.2 refused`,
		},
		{
			name: "long error body is cut",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(strings.Repeat("x", 10000)))
			},
			stderr: `get "k": node NODE answered 400: ` + strings.Repeat("x", 4096),
		},
		{
			name: "redirect is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://127.0.0.1:1/", http.StatusFound)
			},
			stderr: `get "k": node NODE answered 302: redirect to http://127.0.0.1:1/`,
		},
		{
			name: "answer cut short",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "10")
				_, _ = w.Write([]byte("abc"))
			},
			stderr: "reading the answer of node URL: connection closed early",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			res := runCLI(t, testSystem{}, "--node", srv.URL, "get", "k")
			want := strings.NewReplacer("NODE", srv.Listener.Addr().String(), "URL", srv.URL).Replace(tt.stderr)
			assert.Equal(t, result{code: 2, stderr: "diststore: " + want + "\n"}, res)
		})
	}
}

func TestGet_TooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 65 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	// 65 MiB under the race detector on a busy machine can outlast the
	// default 10 s timeout: this test is about the size limit.
	res := runCLI(t, testSystem{}, "--node", srv.URL, "--timeout", "1m", "get", "big")
	assert.Equal(t, result{code: 2, stderr: `diststore: get "big": node ` + srv.Listener.Addr().String() + " answered more than 64 MiB\n"}, res)
}

func TestGet_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	res := runCLI(t, testSystem{}, "--node", srv.URL, "--timeout", "100ms", "get", "k")
	assert.Equal(t, result{code: 2, stderr: "diststore: cannot reach node " + srv.URL + ": timed out after 100ms\n"}, res)
}

func TestGet_UsageErrors(t *testing.T) {
	n := newFakeNode(t)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no key", []string{"get"}, "diststore: get: missing KEY (see diststore get --help)\n"},
		{"two keys", []string{"get", "a", "b"}, "diststore: get: unexpected argument \"b\" (see diststore get --help)\n"},
		{"flag after key", []string{"get", "a", "-v"}, "diststore: get: unexpected argument \"-v\": options go before the arguments (see diststore get --help)\n"},
		{"unknown flag", []string{"get", "--remote", "a"}, "diststore: get: flag provided but not defined: -remote (see diststore get --help)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, result{code: 2, stderr: tt.stderr}, n.on(t, testSystem{}, tt.args...))
		})
	}
	assert.Zero(t, n.count())
}
