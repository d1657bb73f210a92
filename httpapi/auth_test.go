package httpapi_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/store"
)

func testRing(t *testing.T, b byte) *clusterkey.Ring {
	t.Helper()
	var k [clusterkey.KeySize]byte
	k[0] = b
	r, err := clusterkey.New([][clusterkey.KeySize]byte{k}, clusterkey.Options{})
	require.NoError(t, err)
	return r
}

const (
	roToken = "read-only-token-0123"
	rwToken = "read-write-token-0123"
)

func testTokens(t *testing.T) *httpapi.Tokens {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(p, []byte("# clients\nro "+roToken+"\nrw "+rwToken+"\n"), 0o600))
	tok, err := httpapi.LoadTokens(p)
	require.NoError(t, err)
	return tok
}

// keyedPair is a Server with a cluster key behind a real listener, and
// PeerClients with the same key and with another.
type keyedPair struct {
	node          *fakeNode
	ts            *httptest.Server
	to            netip.AddrPort
	same, other   *httpapi.PeerClient
	plain         *httpapi.PeerClient // no key at all
	refusedMetric func() string
}

func newKeyedPair(t *testing.T) keyedPair {
	t.Helper()
	ring := testRing(t, 1)
	srv, node := newTestServer(t, httpapi.Options{Ring: ring})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	to := netip.MustParseAddrPort(ts.Listener.Addr().String())
	client := func(r *clusterkey.Ring) *httpapi.PeerClient {
		c, err := httpapi.NewPeerClient(httpapi.PeerOptions{Ring: r})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	return keyedPair{node: node, ts: ts, to: to,
		same: client(testRing(t, 1)), other: client(testRing(t, 2)), plain: client(nil)}
}

func TestClusterKey_NodeRoutesNeedTheKey(t *testing.T) {
	p := newKeyedPair(t)
	e := store.Entry{Value: []byte("v"), Version: testVersion}

	// A node with the key does everything a node does.
	_, err := p.same.Forward(peerCtx(t), p.to, "k", e, 1)
	require.NoError(t, err)
	got, err := p.same.Fetch(peerCtx(t), p.to, "k")
	require.NoError(t, err)
	assert.Equal(t, e.Value, got.Value)
	_, err = p.same.Digest(peerCtx(t), p.to)
	require.NoError(t, err)
	body, err := p.same.Dump(peerCtx(t), p.to, false)
	require.NoError(t, err)
	body.Close()
	require.NoError(t, p.same.Probe(peerCtx(t), p.to))

	// Without the key, or with another: no write, no dump, no digest.
	for name, c := range map[string]*httpapi.PeerClient{"no key": p.plain, "another key": p.other} {
		_, err := c.Forward(peerCtx(t), p.to, "k", store.Entry{Value: []byte("forged"), Version: store.Version{Clock: 1 << 62}}, 1<<40)
		assert.ErrorContains(t, err, "401", name)
		_, err = c.Digest(peerCtx(t), p.to)
		assert.ErrorContains(t, err, "401", name)
		_, err = c.Dump(peerCtx(t), p.to, true)
		assert.ErrorContains(t, err, "401", name)
	}
	assert.Len(t, p.node.putLocalCalls(), 1, "only the keyed write reached the node")
	held, _ := p.node.entry("k")
	assert.Equal(t, "v", string(held.Value))

	// A bad proof on a client route is refused too: it is a node with the
	// wrong key, which should hear about it.
	_, err = p.other.Fetch(peerCtx(t), p.to, "k")
	assert.ErrorContains(t, err, "401")
	// A client without any proof still reads (no client tokens here).
	resp, err := http.Get(p.ts.URL + "/getlocal/k")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// The refusals are counted by reason.
	resp, err = http.Get(p.ts.URL + "/metrics")
	require.NoError(t, err)
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(m), `diststore_http_refused_total{reason="missing"} 3`)
	assert.Contains(t, string(m), `diststore_http_refused_total{reason="bad_proof"} 4`)
}

func TestClusterKey_RawRequestsRefused(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{Ring: testRing(t, 1)})
	for _, c := range []struct{ method, path string }{
		{"POST", "/local/k"}, {"PUT", "/local/k"}, {"DELETE", "/local/k"},
		{"GET", "/dump"}, {"GET", "/dump?values=0"}, {"GET", "/digest"},
	} {
		h := http.Header{"X-Diststore-Version": {"ffffffffffffffff-ffffffff"}}
		rec := serve(t, srv, c.method, c.path, strings.NewReader("x"), h)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s", c.method, c.path)
		assert.Contains(t, rec.Body.String(), "no proof of the cluster key")
		h.Set(clusterkey.AuthHeader, "v1 1 "+strings.Repeat("A", 43))
		rec = serve(t, srv, c.method, c.path, strings.NewReader("x"), h)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s with a made-up proof", c.method, c.path)
	}
	assert.Empty(t, node.putLocalCalls())
	// What a client uses stays open without tokens.
	assert.Equal(t, http.StatusOK, serve(t, srv, "GET", "/healthz", nil, nil).Code)
	assert.Equal(t, http.StatusOK, serve(t, srv, "PUT", "/k", strings.NewReader("v"), nil).Code)
}

func TestClientTokens(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{Ring: testRing(t, 1), Tokens: testTokens(t)})
	node.set("k", []byte("v"), testVersion)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	basic := func(tok string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:"+tok))}}
	}
	cases := []struct {
		name, method, path string
		hdr                http.Header
		want               int
	}{
		{"health without token", "GET", "/healthz", nil, 200},
		{"ready without token", "GET", "/readyz", nil, 200},
		{"get without token", "GET", "/get/k", nil, 401},
		{"page without token", "GET", "/", nil, 401},
		{"status without token", "GET", "/status", nil, 401},
		{"metrics without token", "GET", "/metrics", nil, 401},
		{"list without token", "GET", "/list", nil, 401},
		{"put without token", "PUT", "/k", nil, 401},
		{"wrong token", "GET", "/get/k", bearer("not-a-token-at-all"), 401},
		{"get ro", "GET", "/get/k", bearer(roToken), 200},
		{"getlocal ro", "GET", "/getlocal/k", bearer(roToken), 200},
		{"page ro by basic auth", "GET", "/", basic(roToken), 200},
		{"put ro", "PUT", "/k", bearer(roToken), 403},
		{"delete ro", "DELETE", "/k", bearer(roToken), 403},
		{"put rw", "PUT", "/k2", bearer(rwToken), 200},
		{"delete rw", "DELETE", "/k2", bearer(rwToken), 200},
		{"local rw: a token is no node", "POST", "/local/k", bearer(rwToken), 401},
		{"dump rw: a token is no node", "GET", "/dump", bearer(rwToken), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serve(t, srv, c.method, c.path, strings.NewReader("v"), c.hdr)
			assert.Equal(t, c.want, rec.Code, rec.Body.String())
			if c.want == 401 && c.path != "/local/k" && c.path != "/dump" {
				assert.Contains(t, rec.Header().Values("WWW-Authenticate"), `Basic realm="diststore"`, "a browser asks for it")
			}
			assert.NotContains(t, rec.Body.String(), roToken)
			assert.NotContains(t, rec.Body.String(), rwToken)
		})
	}
}

func TestParseTokens(t *testing.T) {
	cases := []struct{ file, err string }{
		{"ro 0123456789abcdef\n", ""},
		{"# only a comment\n", "no token"},
		{"xx 0123456789abcdef\n", "line 1: role must be ro or rw"},
		{"ro short\n", "line 1: token shorter than 16"},
		{"ro\n", "line 1: want"},
		{"ro 0123456789abcdef extra\n", "line 1: want"},
		{"ro 0123456789abcdef\nrw 0123456789abcdef\n", "line 2: token given twice"},
	}
	for _, c := range cases {
		_, err := httpapi.ParseTokens([]byte(c.file))
		if c.err == "" {
			assert.NoError(t, err, c.file)
			continue
		}
		if assert.Error(t, err, c.file) {
			assert.Contains(t, err.Error(), c.err)
			assert.NotContains(t, err.Error(), "0123456789abcdef", "a token is never echoed")
		}
	}
	p := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(p, []byte("ro 0123456789abcdef\n"), 0o644))
	require.NoError(t, os.Chmod(p, 0o644))
	_, err := httpapi.LoadTokens(p)
	assert.ErrorContains(t, err, "chmod 600")
}

func TestStatus_SaysWhetherSecure(t *testing.T) {
	open, _ := newTestServer(t, httpapi.Options{})
	rec := serve(t, open, "GET", "/status", nil, nil)
	assert.Contains(t, rec.Body.String(), `"secure": false`)
	assert.Contains(t, serve(t, open, "GET", "/", nil, nil).Body.String(), "without a cluster key")

	keyed, _ := newTestServer(t, httpapi.Options{Ring: testRing(t, 1)})
	rec = serve(t, keyed, "GET", "/status", nil, nil)
	assert.Contains(t, rec.Body.String(), `"secure": true`)
	assert.NotContains(t, serve(t, keyed, "GET", "/", nil, nil).Body.String(), "without a cluster key")
}
