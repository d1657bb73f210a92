package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diststore/diststore/api"
)

// requestTimeout bounds every HTTP request of the tests. A node's miss
// resolution waits up to --multicast-timeout (1s) plus a fetch.
const requestTimeout = 10 * time.Second

// maxBody caps how much of a response the tests read.
const maxBody = 4 << 20

// httpClient is shared by all tests. It does not follow redirects, so a
// test sees a 303 as a 303.
var httpClient = &http.Client{
	Timeout: requestTimeout,
	Transport: &http.Transport{
		Proxy:                 nil, // never through a proxy from the environment
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// reply is an HTTP response read in full.
type reply struct {
	code   int
	body   string
	header http.Header
	dur    time.Duration // time to the full body
}

func (r *reply) String() string {
	body := r.body
	if len(body) > 200 {
		body = body[:200] + "..."
	}
	return fmt.Sprintf("%d %q", r.code, body)
}

// ok reports a 2xx status.
func (r *reply) ok() bool { return r.code >= 200 && r.code < 300 }

// baseURL is the node's HTTP root, without a trailing slash.
func (n *node) baseURL() string { return fmt.Sprintf("http://%s:%d", n.addr, httpPort) }

// keyPath is prefix followed by the URL-escaped key, e.g. "/get/a%2Fb".
func keyPath(prefix, key string) string { return prefix + url.PathEscape(key) }

// do sends one request to the node. path is already escaped.
func (n *node) do(method, path string, body []byte, hdr map[string]string) (*reply, error) {
	return n.doWith(httpClient, method, path, body, hdr)
}

// doWith is do through client hc.
func (n *node) doWith(hc *http.Client, method, path string, body []byte, hdr map[string]string) (*reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.baseURL()+path, rd)
	if err != nil {
		return nil, err
	}
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v) // an "Authorization" of "" sends no token
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s: %s %s: %w", n.addr, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("node %s: %s %s: reading body: %w", n.addr, method, path, err)
	}
	return &reply{code: resp.StatusCode, body: string(b), header: resp.Header, dur: time.Since(start)}, nil
}

// do sends one request to node n and fails the test on a transport error.
func do(t testing.TB, n *node, method, path string, body []byte, hdr map[string]string) *reply {
	t.Helper()
	r, err := n.do(method, path, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// put stores key=val through node n with POST /<key>.
func put(t testing.TB, n *node, key, val string) *reply {
	t.Helper()
	return do(t, n, "POST", keyPath("/", key), []byte(val), map[string]string{"Content-Type": "application/octet-stream"})
}

// putLocal stores key=val on node n only, with POST /local/<key>.
func putLocal(t testing.TB, n *node, key, val string) *reply {
	t.Helper()
	return do(t, n, "POST", keyPath("/local/", key), []byte(val), nil)
}

// get reads key through node n with GET /get/<key>.
func get(t testing.TB, n *node, key string) *reply {
	t.Helper()
	return do(t, n, "GET", keyPath("/get/", key), nil, nil)
}

// getLocal reads key from node n only, with GET /getlocal/<key>.
func getLocal(t testing.TB, n *node, key string) *reply {
	t.Helper()
	return do(t, n, "GET", keyPath("/getlocal/", key), nil, nil)
}

// list returns the keys node n holds, per GET /list.
func list(t testing.TB, n *node) []string {
	t.Helper()
	keys, err := n.list()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// status returns node n's GET /status.
func status(t testing.TB, n *node) *nodeStatus {
	t.Helper()
	st, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// requirePut stores key=val through n and checks the reply: 2xx, an ETag,
// and X-Diststore-Masters naming the masters that hold it. It returns the
// masters named.
func requirePut(t testing.TB, n *node, key, val string) []string {
	t.Helper()
	r := put(t, n, key, val)
	if !r.ok() {
		t.Fatalf("node %s: POST %s: want 2xx, got %v", n.addr, key, r)
	}
	if r.header.Get("ETag") == "" {
		t.Errorf("node %s: POST %s: no ETag header", n.addr, key)
	}
	return mastersHeader(t, r)
}

// mastersHeader parses X-Diststore-Masters ("ip1,ip2").
func mastersHeader(t testing.TB, r *reply) []string {
	t.Helper()
	h := r.header.Get("X-Diststore-Masters")
	if h == "" {
		t.Errorf("no X-Diststore-Masters header in %v", r)
		return nil
	}
	var ms []string
	for _, m := range strings.Split(h, ",") {
		ms = append(ms, strings.TrimSpace(m))
	}
	return sortedAddrs(ms)
}

// list returns the keys the node holds, per GET /list.
func (n *node) list() ([]string, error) {
	r, err := n.do("GET", "/list", nil, nil)
	if err != nil {
		return nil, err
	}
	if r.code != 200 {
		return nil, fmt.Errorf("node %s /list: %v", n.addr, r)
	}
	var keys []string
	for _, line := range strings.Split(r.body, "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			keys = append(keys, line)
		}
	}
	return keys, nil
}

// nodeStatus is GET /status. The tests rely on Masters, Members and Keys.
type nodeStatus struct{ api.Status }

func (s *nodeStatus) hasMember(addr string) bool {
	return slices.Contains(s.memberAddrs(), addr)
}

func (s *nodeStatus) memberAddrs() []string {
	var out []string
	for _, m := range s.Members {
		out = append(out, m.Addr)
	}
	return out
}

// status returns the node's GET /status.
func (n *node) status() (*nodeStatus, error) {
	r, err := n.do("GET", "/status", nil, nil)
	if err != nil {
		return nil, err
	}
	if r.code != 200 {
		return nil, fmt.Errorf("node %s /status: %v", n.addr, r)
	}
	var st nodeStatus
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		return nil, fmt.Errorf("node %s /status: %w in %q", n.addr, err, r.body)
	}
	return &st, nil
}

// sortedAddrs returns a copy of addrs sorted as IP addresses (127.0.2.2
// before 127.0.2.10); strings that are not addresses sort last.
func sortedAddrs(addrs []string) []string {
	out := slices.Clone(addrs)
	slices.SortFunc(out, func(a, b string) int {
		pa, ea := netip.ParseAddr(a)
		pb, eb := netip.ParseAddr(b)
		switch {
		case ea == nil && eb == nil:
			return pa.Compare(pb)
		case ea == nil:
			return -1
		case eb == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
	return out
}
