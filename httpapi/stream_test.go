package httpapi_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/repl"
	"github.com/diststore/diststore/store"
)

// metricsOf reads a server's /metrics.
func metricsOf(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	resp, err := http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestStream_ForwardsGoOnTheStream: concurrent forwarded writes reach the
// master's Replicate on the replication stream, not as POST /local; a
// value too large for a stream goes as a request of its own.
func TestStream_ForwardsGoOnTheStream(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{MaxValueSize: 1 << 20})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := httpapi.NewPeerClient(httpapi.PeerOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	p := peerPair{client: c, node: node, ts: ts, to: netip.MustParseAddrPort(ts.Listener.Addr().String())}
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := store.Entry{Value: []byte(fmt.Sprint(i)), Version: testVersion}
			_, errs[i] = p.client.Forward(peerCtx(t), p.to, fmt.Sprintf("k%d", i), e, 3)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "write %d", i)
	}
	assert.Len(t, p.node.putLocalCalls(), n)
	assert.NotContains(t, metricsOf(t, p.ts), `route="local"`, "no request per write")

	big := store.Entry{Value: make([]byte, repl.MaxStreamValue+1), Version: testVersion}
	_, err = p.client.Forward(peerCtx(t), p.to, "big", big, 3)
	require.NoError(t, err)
	assert.Contains(t, metricsOf(t, p.ts), `diststore_http_requests_total{code="200",route="local"} 1`)
	got, ok := p.node.entry("big")
	require.True(t, ok)
	assert.Len(t, got.Value, repl.MaxStreamValue+1)
}

// TestStream_Refusals: a master's refusals on the stream are the errors
// they are over HTTP: not a master, a failed condition, and any other (a
// version too far ahead of its clock among them).
func TestStream_Refusals(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{})
	e := store.Entry{Value: []byte("v"), Version: testVersion}
	for _, tt := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: masters are elsewhere", cluster.ErrNotMaster), cluster.ErrNotMaster},
		{fmt.Errorf("%w: key exists", cluster.ErrPrecondition), cluster.ErrPrecondition},
		{fmt.Errorf("%w: by 2h", store.ErrClockSkew), cluster.ErrMasterRefused},
		{fmt.Errorf("disk on fire"), cluster.ErrMasterRefused},
	} {
		p.node.setPutErr(tt.err)
		_, err := p.client.Forward(peerCtx(t), p.to, "k", e, 1)
		assert.ErrorIs(t, err, tt.want, "%v", tt.err)
	}
	assert.NotContains(t, metricsOf(t, p.ts), `route="local"`)
}

// TestStream_NodeWithoutStreams: a node that does not serve streams (an
// older diststore, the original) gets a request per write.
func TestStream_NodeWithoutStreams(t *testing.T) {
	for name, answer := range map[string]func(w http.ResponseWriter, r *http.Request){
		"404, an older diststore": http.NotFound,
		"200, the original": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "a page of keys\n")
		},
		"503": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/replicate" {
					answer(w, r)
					return
				}
				srv.ServeHTTP(w, r)
			}))
			t.Cleanup(ts.Close)
			c, err := httpapi.NewPeerClient(httpapi.PeerOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			to := netip.MustParseAddrPort(ts.Listener.Addr().String())
			for i := 0; i < 3; i++ {
				_, err := c.Forward(peerCtx(t), to, fmt.Sprintf("k%d", i), store.Entry{Value: []byte("v"), Version: testVersion}, 1)
				require.NoError(t, err)
			}
			assert.Len(t, node.putLocalCalls(), 3)
			assert.Contains(t, metricsOf(t, ts), `diststore_http_requests_total{code="200",route="local"} 3`)
		})
	}
}

// TestStream_Keyed: with a cluster key, a node with the key writes on the
// stream; one with another key, or none, is refused (401) and writes
// nothing; and a node with the key does not take a stream from a node
// that cannot prove it.
func TestStream_Keyed(t *testing.T) {
	p := newKeyedPair(t)
	e := store.Entry{Value: []byte("v"), Version: testVersion}
	_, err := p.same.Forward(peerCtx(t), p.to, "k", e, 1)
	require.NoError(t, err)
	for name, c := range map[string]*httpapi.PeerClient{"no key": p.plain, "another key": p.other} {
		_, err := c.Forward(peerCtx(t), p.to, "forged", e, 1)
		assert.ErrorIs(t, err, cluster.ErrMasterRefused, name)
		assert.ErrorContains(t, err, "401", name)
	}
	assert.Len(t, p.node.putLocalCalls(), 1, "only the keyed write reached the node")
	assert.NotContains(t, metricsOf(t, p.ts), `route="local"`)

	// An open server answers the upgrade without proving any key: a keyed
	// node does not trust its acks.
	open := newPeerPair(t, httpapi.PeerOptions{})
	keyed, err := httpapi.NewPeerClient(httpapi.PeerOptions{Ring: testRing(t, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { keyed.Close() })
	_, err = keyed.Forward(peerCtx(t), open.to, "k", e, 1)
	assert.ErrorIs(t, err, cluster.ErrMasterRefused)
	assert.Empty(t, open.node.putLocalCalls())
}

// upgrade sends GET /replicate with header on a new connection to to and
// returns the connection and the answer.
func upgrade(t *testing.T, to netip.AddrPort, header http.Header, sign *clusterkey.Ring) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", to.String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	req, err := http.NewRequest(http.MethodGet, "http://"+to.String()+"/replicate", nil)
	require.NoError(t, err)
	req.Header = header
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "diststore-repl/1")
	if sign != nil {
		sign.Sign(req, sha256.Sum256(nil))
	}
	require.NoError(t, req.Write(conn))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	require.NoError(t, err)
	return conn, br, resp
}

// TestStream_UnauthenticatedPeerRefused: on a keyed node the upgrade needs
// a signed request and a hello that proves the key, and after it every
// frame must carry the stream's MAC; a peer that fails any of these
// writes nothing.
func TestStream_UnauthenticatedPeerRefused(t *testing.T) {
	p := newKeyedPair(t)
	ring := testRing(t, 1)
	hello, _ := ring.StreamHello()
	otherHello, _ := testRing(t, 2).StreamHello()

	_, _, resp := upgrade(t, p.to, http.Header{clusterkey.StreamHelloHeader: {hello}}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a hello without a signed request")
	_, _, resp = upgrade(t, p.to, http.Header{clusterkey.StreamHelloHeader: {otherHello}}, ring)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a signed request with another key's hello")
	_, _, resp = upgrade(t, p.to, http.Header{}, ring)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a signed request without a hello")

	// A replay of a good upgrade gets a stream, but its frames cannot be
	// signed without the stream's keys: the first unsigned one ends it.
	conn, br, resp := upgrade(t, p.to, http.Header{clusterkey.StreamHelloHeader: {hello}}, ring)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get(clusterkey.StreamHelloHeader), "the master proves the key too")
	body := forgedWritesFrame()
	frame := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)+sha256.Size))
	frame = append(append(append(frame, 1), body...), make([]byte, sha256.Size)...)
	_, err := conn.Write(frame)
	require.NoError(t, err)
	_, err = br.ReadByte()
	assert.Error(t, err, "the master ends the stream")
	assert.Empty(t, p.node.putLocalCalls())
	assert.Contains(t, metricsOf(t, p.ts), `diststore_http_refused_total{reason="missing"} 1`)
}

// forgedWritesFrame is the payload of a writes frame of one write.
func forgedWritesFrame() []byte {
	b := binary.BigEndian.AppendUint16(nil, 1)
	b = binary.BigEndian.AppendUint64(b, 1)                        // seq
	b = binary.BigEndian.AppendUint64(b, 1)                        // epoch
	b = binary.BigEndian.AppendUint64(b, 1<<62)                    // clock
	b = binary.BigEndian.AppendUint32(b, 1)                        // node
	b = append(b, 0)                                               // flags
	b = binary.BigEndian.AppendUint64(b, 0)                        // expires
	b = binary.BigEndian.AppendUint16(b, uint16(len("forged")))    // key length
	b = binary.BigEndian.AppendUint32(b, uint32(len("overwrite"))) // value length
	return append(append(b, "forged"...), "overwrite"...)
}

// TestStream_UpgradeNeedsTheHeaders: GET /replicate without the upgrade
// headers is a 400, not a stream.
func TestStream_UpgradeNeedsTheHeaders(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{})
	resp, err := http.Get(p.ts.URL + "/replicate")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.True(t, strings.Contains(string(b), "Upgrade"), "%s", b)
}

// TestStream_Bounded: past Options.ReplicationStreams a node answers 503
// to a new stream, and the writer sends a request instead.
func TestStream_Bounded(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{ReplicationStreams: 1})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	to := netip.MustParseAddrPort(ts.Listener.Addr().String())
	e := store.Entry{Value: []byte("v"), Version: testVersion}
	first, err := httpapi.NewPeerClient(httpapi.PeerOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { first.Close() })
	_, err = first.Forward(peerCtx(t), to, "a", e, 1)
	require.NoError(t, err)
	second, err := httpapi.NewPeerClient(httpapi.PeerOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { second.Close() })
	_, err = second.Forward(peerCtx(t), to, "b", e, 1)
	require.NoError(t, err)
	assert.Len(t, node.putLocalCalls(), 2)
	m := metricsOf(t, ts)
	assert.Contains(t, m, `diststore_http_requests_total{code="503",route="replicate"} 1`)
	assert.Contains(t, m, `diststore_http_requests_total{code="200",route="local"} 1`, "the second writer's request")
}
