package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchJSON runs bench with --json and the arguments and returns its result.
func benchJSON(t *testing.T, args ...string) benchResult {
	t.Helper()
	res := runTool(t, append([]string{"--json"}, args...)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var out benchResult
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &out), res.stdout)
	return out
}

// setKeys stores prefix0 .. prefix<n-1> on n.
func (n *fakeNode) setKeys(prefix string, count int) {
	for i := range count {
		n.set(prefix+strconv.Itoa(i), "value")
	}
}

// paths returns the escaped paths of every request n received.
func (n *fakeNode) paths() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ps []string
	for _, r := range n.requests {
		ps = append(ps, r.Method+" "+r.Path)
	}
	return ps
}

func TestBench_Get_Counts(t *testing.T) {
	for _, op := range []string{"get", "getlocal"} {
		t.Run(op, func(t *testing.T) {
			n := newFakeNode(t)
			n.setKeys("bench-", 10)
			res := benchJSON(t, "--op", op, "--keys", "10", "--conns", "3", "--requests", "50", n.url())
			assert.Equal(t, int64(50), res.Requests)
			assert.Equal(t, int64(50), res.OK)
			assert.Empty(t, res.Errors)
			assert.Equal(t, 50, n.count(), "the cap is over every connection")
			for _, p := range n.paths() {
				assert.Regexp(t, `^GET /`+op+`/bench-[0-9]$`, p)
			}
			assert.Greater(t, res.ReqPerSec, 0.0)
			assert.LessOrEqual(t, res.P50Ms, res.P99Ms)
			assert.LessOrEqual(t, res.P99Ms, res.MaxMs)
		})
	}
}

func TestBench_Get_MissingKeysAreErrors(t *testing.T) {
	n := newFakeNode(t)
	n.setKeys("bench-", 5)
	res := benchJSON(t, "--keys", "10", "--conns", "2", "--requests", "200", n.url())
	assert.Equal(t, int64(200), res.Requests)
	assert.Equal(t, res.Requests, res.OK+res.Errors["404"])
	assert.Positive(t, res.Errors["404"], "half the keys are missing")
	assert.Positive(t, res.OK)
}

func TestBench_Miss_404IsSuccess(t *testing.T) {
	n := newFakeNode(t)
	n.setKeys("bench-", 10)
	res := benchJSON(t, "--op", "miss", "--conns", "4", "--requests", "40", n.url())
	assert.Equal(t, int64(40), res.OK)
	assert.Empty(t, res.Errors)
	seen := map[string]bool{}
	for _, p := range n.paths() {
		assert.True(t, strings.HasPrefix(p, "GET /get/bench-miss-"), p)
		seen[p] = true
	}
	assert.Len(t, seen, 40, "every miss asks for another key")
}

func TestBench_Put_WritesEveryKey(t *testing.T) {
	n := newFakeNode(t)
	res := benchJSON(t, "--op", "put", "--keys", "25", "--value-size", "7", "--conns", "5", "--requests", "25", n.url())
	assert.Equal(t, int64(25), res.OK)
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Len(t, n.values, 25)
	for i := range 25 {
		assert.Equal(t, []byte("vvvvvvv"), n.values["bench-"+strconv.Itoa(i)])
	}
}

func TestBench_PreloadFirstGet_EachKeyOnce(t *testing.T) {
	a, b := newFakeNode(t), newFakeNode(t)
	// Preloading through two nodes that share nothing would leave each
	// with half the keys; the first read must then find about half of
	// them, which is enough to see that every key is read once.
	res := benchJSON(t, "--op", "first-get", "--preload", "--prefix", "fg-", "--keys", "30", "--conns", "4",
		"--duration", "10s", a.url(), b.url())
	require.NotNil(t, res.Preload)
	assert.Equal(t, int64(30), res.Preload.OK)
	assert.Equal(t, "put", res.Preload.Op)
	assert.Equal(t, int64(30), res.Requests, "first-get stops after the last key")
	assert.Equal(t, res.Requests, res.OK+res.Errors["404"])

	var reads []string
	for _, n := range []*fakeNode{a, b} {
		assert.Positive(t, n.count(), "connections are spread over the URLs")
		for _, p := range n.paths() {
			if strings.HasPrefix(p, "GET ") {
				reads = append(reads, p[len("GET /get/"):])
			}
		}
	}
	slices.Sort(reads)
	var want []string
	for i := range 30 {
		want = append(want, "fg-"+strconv.Itoa(i))
	}
	slices.Sort(want)
	assert.Equal(t, want, reads)
}

func TestBench_CopyPerKey(t *testing.T) {
	n := newFakeNode(t)
	n.setKeys("k/", 12)
	res := benchJSON(t, "--op", "copy-per-key", n.url())
	assert.Equal(t, 1, res.Conns)
	assert.Equal(t, 12, res.Listed)
	assert.Equal(t, int64(12), res.OK)
	assert.Positive(t, res.KeysPerSec)
	ps := n.paths()
	require.Len(t, ps, 13)
	assert.Equal(t, "GET /list", ps[0])
	assert.Equal(t, "GET /getlocal/k%2F0", ps[1], "keys are escaped")

	empty := newFakeNode(t)
	res = benchJSON(t, "--op", "copy-per-key", empty.url())
	assert.Zero(t, res.Listed)
	assert.Zero(t, res.Requests)
}

func TestBench_DurationStopsTheRun(t *testing.T) {
	n := newFakeNode(t)
	n.setKeys("bench-", 10)
	start := time.Now()
	res := benchJSON(t, "--keys", "10", "--zipf", "1.5", "--conns", "2", "--duration", "200ms", n.url())
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Positive(t, res.OK)
	assert.Empty(t, res.Errors, "zipf picks keys in range")
	assert.InDelta(t, 0.2, res.Seconds, 0.5)
}

func TestBench_JSONShape(t *testing.T) {
	n := newFakeNode(t)
	n.setKeys("bench-", 3)
	res := runTool(t, "--json", "--keys", "3", "--requests", "5", "--conns", "1", n.url())
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, 1, strings.Count(res.stdout, "\n"), "one line")
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &obj))
	for _, k := range []string{"op", "urls", "conns", "keys", "requests", "ok", "errors", "seconds",
		"req_per_sec", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"} {
		assert.Contains(t, obj, k)
	}
	assert.Equal(t, []any{n.url()}, obj["urls"])
	assert.NotContains(t, obj, "preload")
}

func TestBench_Table(t *testing.T) {
	n := newFakeNode(t)
	res := runTool(t, "--node", n.url(), "--op", "miss", "--requests", "3", "--conns", "1")
	require.Equal(t, 0, res.code, res.stderr)
	for _, want := range []string{"op        miss\n", "nodes     " + n.url() + "\n", "requests  3 in ", "errors    none\n", "req/s", "p99"} {
		assert.Contains(t, res.stdout, want)
	}
}

func TestBench_TransportErrors(t *testing.T) {
	res := benchJSON(t, "--requests", "3", "--conns", "1", deadNode(t))
	assert.Equal(t, int64(3), res.Requests)
	assert.Equal(t, map[string]int64{"transport": 3}, res.Errors)

	out := runTool(t, "--op", "copy-per-key", deadNode(t))
	assert.Equal(t, 2, out.code)
	assert.Contains(t, out.stderr, "cannot reach node")
}

func TestBench_Usage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--op", "scan"}, `--op "scan": want one of`},
		{[]string{"--conns", "0"}, "--conns 0: want at least 1"},
		{[]string{"--op", "copy-per-key", "--conns", "4"}, "copy-per-key uses one connection"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--keys", "0"}, "--keys 0"},
		{[]string{"--zipf", "0.5"}, "--zipf 0.5: want an exponent above 1"},
		{[]string{"ftp://x"}, `URL "ftp://x": scheme "ftp"`},
		{[]string{"127.0.0.1", "--json"}, `unexpected argument "--json": options go before the URLs`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runTool(t, tt.args...)
			assert.Equal(t, 2, res.code)
			assert.Contains(t, res.stderr, tt.want)
			assert.Contains(t, res.stderr, "(see diststore-bench --help)")
		})
	}
}

// TestBench_RequestsCap_NotCutByDefaultDuration: with --requests and no
// --duration, every request is sent even when that takes longer than the
// default duration would allow.
func TestBench_RequestsCap_NotCutByDefaultDuration(t *testing.T) {
	n := newFakeNode(t)
	n.delay = 60 * time.Millisecond // 100 requests on one connection: 6 s, past the default 5 s
	res := benchJSON(t, "--op", "put", "--keys", "100", "--requests", "100", "--conns", "1", n.url())
	assert.Equal(t, int64(100), res.Requests)
	assert.Equal(t, int64(100), res.OK)
	assert.Equal(t, 100, n.count())
}

// TestBench_StoppedBeforeCap_Fails: a run that --duration stops before it
// sent --requests, or before first-get read every key, exits non-zero and
// says how far it got; a preload that stopped early must not pass for one
// that wrote every key.
func TestBench_StoppedBeforeCap_Fails(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"put with --requests", []string{"--op", "put", "--keys", "100", "--requests", "100"}},
		{"first-get", []string{"--op", "first-get", "--keys", "100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode(t)
			n.setKeys("bench-", 100)
			n.delay = 20 * time.Millisecond
			args := append([]string{"--json", "--conns", "1", "--duration", "200ms"}, tc.args...)
			res := runTool(t, append(args, n.url())...)
			assert.Equal(t, exitError, res.code, "stdout: %s", res.stdout)
			assert.Contains(t, res.stderr, "stopped at --duration before sending every request")
			assert.Less(t, n.count(), 100, "the run did stop early")
		})
	}
}

func TestBench_Help(t *testing.T) {
	res := runTool(t, "--help")
	assert.Equal(t, 0, res.code, res.stderr)
	for _, want := range []string{"diststore-bench [--node URL]", "--op OP", "--timeout DURATION", "--json"} {
		assert.Contains(t, res.stdout, want)
	}
}

// TestBench_LocalNode: without a URL or --node, the bench loads the local
// node, found as the diststore client finds it.
func TestBench_LocalNode(t *testing.T) {
	res := runTool(t, "--requests", "1")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "diststore-bench: finding the local node: default bind '{{ GetPrivateIP }}'")
}
