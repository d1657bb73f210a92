package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPut_Argument(t *testing.T) {
	n := newFakeNode(t)
	res := n.on(t, testSystem{}, "put", "greeting", "hello")
	assert.Equal(t, result{code: 0, stdout: "stored on 127.0.2.1, 127.0.2.2\n"}, res)
	req := n.last(t)
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, "/greeting", req.Path)
	assert.Equal(t, "hello", string(req.Body))
	assert.Empty(t, req.Query)
	assert.Empty(t, req.IfMatch)
	assert.Empty(t, req.IfNoneMatch)
}

func TestPut_Stdin_BinarySafe(t *testing.T) {
	n := newFakeNode(t)
	value := "\x00\xff line one\r\nline two\n\n"
	res := n.on(t, testSystem{stdin: strings.NewReader(value)}, "put", "bin")
	assert.Equal(t, result{code: 0, stdout: "stored on 127.0.2.1, 127.0.2.2\n"}, res)
	assert.Equal(t, []byte(value), n.last(t).Body)
}

func TestPut_EmptyValue(t *testing.T) {
	n := newFakeNode(t)
	res := n.on(t, testSystem{}, "put", "k", "")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, n.last(t).Body)
}

func TestPut_KeyEscaped(t *testing.T) {
	n := newFakeNode(t)
	for key, path := range map[string]string{
		"a/b":     "/a%2Fb",
		"..":      "/..",
		"k?x=1#f": "/k%3Fx=1%23f",
		"é":       "/%C3%A9",
	} {
		res := n.on(t, testSystem{}, "put", key, "v")
		require.Equal(t, 0, res.code, res.stderr)
		assert.Equal(t, path, n.last(t).Path, "key %q", key)
	}
}

func TestPut_Options(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "old") // version v1

	res := n.on(t, testSystem{}, "put", "--ttl", "30s", "--if-match", `"v1"`, "k", "new")
	assert.Equal(t, 0, res.code, res.stderr)
	req := n.last(t)
	assert.Equal(t, "ttl=30s", req.Query)
	assert.Equal(t, `"v1"`, req.IfMatch)

	// An ETag whose quotes the shell ate is quoted again.
	res = n.on(t, testSystem{}, "put", "--if-match", "v2", "k", "newer")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, `"v2"`, n.last(t).IfMatch)

	res = n.on(t, testSystem{}, "put", "--if-absent", "fresh", "v")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, "*", n.last(t).IfNoneMatch)
}

func TestPut_PreconditionFailed(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "v")
	res := n.on(t, testSystem{}, "put", "--if-absent", "k", "v2")
	assert.Equal(t, result{code: 2, stderr: `diststore: put "k": node ` + n.srv.Listener.Addr().String() + " answered 412: key exists\n"}, res)
}

func TestPut_NoMaster(t *testing.T) {
	n := newFakeNode(t)
	n.failWrites = "no master can take the write"
	res := n.on(t, testSystem{}, "put", "k", "v")
	assert.Equal(t, result{code: 2, stderr: `diststore: put "k": node ` + n.srv.Listener.Addr().String() + " answered 503: no master can take the write\n"}, res)
}

func TestPut_UsageErrors(t *testing.T) {
	n := newFakeNode(t)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no key", []string{"put"}, "diststore: put: missing KEY (see diststore put --help)\n"},
		{"empty key", []string{"put", "", "v"}, "diststore: put: empty KEY (see diststore put --help)\n"},
		{"extra argument", []string{"put", "k", "v", "w"}, "diststore: put: unexpected argument \"w\" (see diststore put --help)\n"},
		{"flag after key", []string{"put", "k", "v", "--ttl", "1s"}, "diststore: put: unexpected argument \"--ttl\": options go before the arguments (see diststore put --help)\n"},
		{"both conditions", []string{"put", "--if-absent", "--if-match", "v1", "k", "v"}, "diststore: put: --if-match and --if-absent exclude each other (see diststore put --help)\n"},
		{"negative ttl", []string{"put", "--ttl", "-1s", "k", "v"}, "diststore: put: --ttl -1s: want a positive duration (see diststore put --help)\n"},
		{"bad ttl", []string{"put", "--ttl", "soon", "k", "v"}, "diststore: put: invalid value \"soon\" for flag -ttl: parse error (see diststore put --help)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := n.on(t, testSystem{}, tt.args...)
			assert.Equal(t, result{code: 2, stderr: tt.stderr}, res)
		})
	}
	assert.Zero(t, n.count(), "a usage error sent a request")
}

// zeros is an endless standard input.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var _ io.Reader = zeros{}

func TestPut_StdinTooLarge(t *testing.T) {
	n := newFakeNode(t)
	res := n.on(t, testSystem{stdin: zeros{}}, "put", "k")
	assert.Equal(t, result{code: 2, stderr: `diststore: put "k": value on standard input larger than 64 MiB` + "\n"}, res)
	assert.Zero(t, n.count())
}

func TestPut_NodeDown(t *testing.T) {
	u := deadNode(t)
	res := runCLI(t, testSystem{}, "--node", u, "put", "k", "v")
	assert.Equal(t, result{code: 2, stderr: "diststore: cannot reach node " + u + ": connection refused\n"}, res)
}

// TestPut_Stdin_StoredVerbatim_RealNode: what goes in on standard input
// comes out of get byte for byte through a real node: a trailing newline
// and NUL bytes included.
func TestPut_Stdin_StoredVerbatim_RealNode(t *testing.T) {
	node := startNode(t)
	for _, value := range []string{"hello\n", "hello", "\x00", "a\x00b\x00\n\n", "\r\n", "\xff\xfe\x00\n"} {
		res := runCLI(t, testSystem{stdin: strings.NewReader(value)}, "--node", node.URL, "put", "k")
		require.Equal(t, 0, res.code, res.stderr)
		res = runCLI(t, testSystem{}, "--node", node.URL, "get", "k")
		require.Equal(t, 0, res.code, res.stderr)
		assert.Equal(t, []byte(value), []byte(res.stdout), "%q", value)
	}
}
