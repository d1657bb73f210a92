package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/store"
)

// peerPair is a PeerClient and the real HTTP server of a fake node it
// talks to.
type peerPair struct {
	client *httpapi.PeerClient
	node   *fakeNode
	ts     *httptest.Server
	to     netip.AddrPort
}

// newPeerPair serves a fake node on a loopback listener and returns a
// PeerClient with opts that reaches it.
func newPeerPair(t *testing.T, opts httpapi.PeerOptions) peerPair {
	t.Helper()
	srv, node := newTestServer(t, httpapi.Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	to, err := netip.ParseAddrPort(ts.Listener.Addr().String())
	require.NoError(t, err)
	c, err := httpapi.NewPeerClient(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return peerPair{client: c, node: node, ts: ts, to: to}
}

func peerCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewPeerClient_Negative(t *testing.T) {
	_, err := httpapi.NewPeerClient(httpapi.PeerOptions{RequestTimeout: -time.Second})
	assert.ErrorIs(t, err, cluster.ErrBadConfig)
}

func TestPeerClient_Forward_RoundTrip(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{})
	const key = "a/b%c?d" // escaped in the path, whole in the handler
	e := store.Entry{Value: []byte("v\x00\n"), Version: testVersion, Expires: 1700000000000}
	held, err := p.client.Forward(peerCtx(t), p.to, key, e, 7)
	require.NoError(t, err)
	assert.Equal(t, testVersion, held, "the version the node holds afterwards")

	calls := p.node.putLocalCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, putCall{Key: key, Value: e.Value, Version: testVersion, Expires: e.Expires, Epoch: 7}, calls[0])

	got, err := p.client.Fetch(peerCtx(t), p.to, key)
	require.NoError(t, err)
	assert.Equal(t, e, got, "what was forwarded is fetched back: value, version, expiry")

	// A tombstone is a DELETE: the key is gone.
	_, err = p.client.Forward(peerCtx(t), p.to, key, store.Entry{Deleted: true, Version: testVersion}, 8)
	require.NoError(t, err)
	_, ok := p.node.entry(key)
	assert.False(t, ok)
	_, err = p.client.Fetch(peerCtx(t), p.to, key)
	assert.ErrorIs(t, err, cluster.ErrNotFound)
}

func TestPeerClient_Decide_RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		cond cluster.Condition
	}{
		{"IfMatch", cluster.Condition{IfMatch: &testVersion, Epoch: 3}},
		{"IfExists", cluster.Condition{IfExists: true, Epoch: 4}},
		{"IfAbsent", cluster.Condition{IfAbsent: true, Epoch: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeerPair(t, httpapi.PeerOptions{})
			v, err := p.client.Decide(peerCtx(t), p.to, "k", store.Entry{Value: []byte("v")}, tc.cond)
			require.NoError(t, err)

			calls := p.node.putLocalCalls()
			require.Len(t, calls, 1)
			assert.Equal(t, tc.cond, calls[0].Cond, "the condition and epoch reach the decider")
			assert.True(t, calls[0].Version.IsZero(), "the decider versions the write")
			held, ok := p.node.entry("k")
			require.True(t, ok)
			assert.Equal(t, held.Version, v, "Decide returns the version the decider gave")
		})
	}
}

// TestPeerClient_Write_Errors: the error a node's write returned comes
// back to the writer as the same sentinel, through statusOf and back.
func TestPeerClient_Write_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"Precondition", fmt.Errorf("%w: key exists", cluster.ErrPrecondition), cluster.ErrPrecondition},
		{"NotMaster", fmt.Errorf("%w: masters are x", cluster.ErrNotMaster), cluster.ErrNotMaster},
		{"Refused", cluster.ErrMasterRefused, cluster.ErrMasterRefused},
		{"TooLarge", cluster.ErrTooLarge, cluster.ErrMasterRefused},
		{"Other", errors.New("disk full"), cluster.ErrMasterRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeerPair(t, httpapi.PeerOptions{})
			p.node.setPutErr(tc.err)
			_, err := p.client.Forward(peerCtx(t), p.to, "k", store.Entry{Value: []byte("v"), Version: testVersion}, 1)
			assert.ErrorIs(t, err, tc.want, "Forward")
			_, err = p.client.Decide(peerCtx(t), p.to, "k", store.Entry{Value: []byte("v")}, cluster.Condition{IfAbsent: true})
			assert.ErrorIs(t, err, tc.want, "Decide")
		})
	}
}

func TestPeerClient_Fetch_TooLarge(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{MaxValueSize: 4})
	p.node.set("k", []byte("12345"), testVersion)
	_, err := p.client.Fetch(peerCtx(t), p.to, "k")
	assert.ErrorIs(t, err, cluster.ErrTooLarge)
}

func TestPeerClient_Dump(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{})
	for _, tc := range []struct {
		values bool
		want   string
	}{
		{true, "dump\n"},
		{false, "dump without values\n"},
	} {
		body, err := p.client.Dump(peerCtx(t), p.to, tc.values)
		require.NoError(t, err)
		b, err := io.ReadAll(body)
		require.NoError(t, err)
		require.NoError(t, body.Close())
		assert.Equal(t, tc.want, string(b), "values %t", tc.values)
	}
}

func TestPeerClient_DigestAndProbe(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{})
	p.node.set("a", []byte("1"), testVersion)
	p.node.set("b", []byte("2"), testVersion)
	d, err := p.client.Digest(peerCtx(t), p.to)
	require.NoError(t, err)
	assert.Equal(t, cluster.Digest{Entries: 2, SHA256: "fake"}, d)
	assert.NoError(t, p.client.Probe(peerCtx(t), p.to))
}

// TestPeerClient_Unreachable: a node that does not answer is an error
// that is none of the refusals, so the writer probes it and replaces it.
func TestPeerClient_Unreachable(t *testing.T) {
	p := newPeerPair(t, httpapi.PeerOptions{DialTimeout: time.Second})
	p.ts.Close()
	ctx := peerCtx(t)
	errs := map[string]error{"Probe": p.client.Probe(ctx, p.to)}
	_, errs["Forward"] = p.client.Forward(ctx, p.to, "k", store.Entry{Value: []byte("v"), Version: testVersion}, 1)
	_, errs["Decide"] = p.client.Decide(ctx, p.to, "k", store.Entry{Value: []byte("v")}, cluster.Condition{IfAbsent: true})
	_, errs["Fetch"] = p.client.Fetch(ctx, p.to, "k")
	_, errs["Dump"] = p.client.Dump(ctx, p.to, true)
	_, errs["Digest"] = p.client.Digest(ctx, p.to)
	for name, err := range errs {
		require.Error(t, err, name)
		for _, refusal := range []error{cluster.ErrNotMaster, cluster.ErrPrecondition, cluster.ErrMasterRefused, cluster.ErrNotFound} {
			assert.NotErrorIs(t, err, refusal, name)
		}
	}
}
