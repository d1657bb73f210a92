package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// memHTTP is an in-memory HTTP network: requests to host:port reach the
// handler registered for host, with no sockets.
type memHTTP struct {
	mu sync.RWMutex // guards h
	h  map[string]http.Handler
}

func (m *memHTTP) set(host string, h http.Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == nil {
		delete(m.h, host)
		return
	}
	m.h[host] = h
}

func (m *memHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	m.mu.RLock()
	h := m.h[req.URL.Hostname()]
	m.mu.RUnlock()
	if h == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// testCluster runs nodes in one process over a fake multicast network and
// the in-memory HTTP network.
type testCluster struct {
	t     testing.TB
	net   *mcast.MemNetwork
	http  *memHTTP
	cfg   cluster.Config
	mu    sync.Mutex
	nodes map[netip.Addr]*testNode
}

type testNode struct {
	*cluster.Node
	tr mcast.Transport
	st store.Store
}

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 2, byte(i)}) }

func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	c := &testCluster{
		t:     t,
		net:   mcast.NewMemNetwork(),
		http:  &memHTTP{h: map[string]http.Handler{}},
		nodes: map[netip.Addr]*testNode{},
		cfg: cluster.Config{
			HeartbeatInterval: 25 * time.Millisecond,
			FailureTimeout:    400 * time.Millisecond,
			MulticastTimeout:  5 * time.Second,
			Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		},
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for a, n := range c.nodes {
			c.stopLocked(a, n)
		}
	})
	return c
}

// start runs node 127.0.2.i with an empty store.
func (c *testCluster) start(i int) *testNode {
	c.t.Helper()
	return c.startWith(i, store.NewMemory())
}

// startWith runs node 127.0.2.i over st, as a restart over its data dir.
func (c *testCluster) startWith(i int, st store.Store) *testNode {
	c.t.Helper()
	a := addr(i)
	cfg := c.cfg
	cfg.Addr = a
	cfg.HTTPTransport = c.http
	tr := c.net.Join(a)
	n, err := cluster.New(cfg, tr, st)
	require.NoError(c.t, err)
	c.http.set(a.String(), httpapi.New(n, httpapi.Options{Logger: cfg.Logger}))
	require.NoError(c.t, n.Start())
	tn := &testNode{Node: n, tr: tr, st: st}
	c.mu.Lock()
	c.nodes[a] = tn
	c.mu.Unlock()
	return tn
}

// startN runs nodes 1..count and waits until they agree on the masters.
func (c *testCluster) startN(count int) []*testNode {
	c.t.Helper()
	var out []*testNode
	for i := 1; i <= count; i++ {
		out = append(out, c.start(i))
	}
	c.waitAgreed()
	return out
}

// crash stops node i without a word to the others, as SIGKILL would, and
// returns its store, which a restart can reuse.
func (c *testCluster) crash(i int) store.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr(i)]
	if n == nil {
		return nil
	}
	c.stopLocked(addr(i), n)
	return n.st
}

func (c *testCluster) stopLocked(a netip.Addr, n *testNode) {
	c.http.set(a.String(), nil)
	require.NoError(c.t, n.Close())
	require.NoError(c.t, n.Close(), "Close twice")
	require.NoError(c.t, n.tr.Close())
	delete(c.nodes, a)
}

func (c *testCluster) live() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*testNode, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

// waitAgreed waits until every live node is ready and holds the same
// pair of synced masters, and returns it.
func (c *testCluster) waitAgreed() []netip.Addr {
	c.t.Helper()
	var masters []netip.Addr
	eventually(c.t, 5*time.Second, func() error {
		nodes := c.live()
		want := min(2, len(nodes))
		first := nodes[0].Masters()
		for _, n := range nodes {
			if !n.Ready() {
				return fmt.Errorf("%s not ready", n.Addr())
			}
			p := n.Masters()
			if !p.Equal(first) || len(p.Masters) != want {
				return fmt.Errorf("%s holds %v, %s holds %v", nodes[0].Addr(), first, n.Addr(), p)
			}
		}
		for _, m := range first.Masters {
			c.mu.Lock()
			mn := c.nodes[m]
			c.mu.Unlock()
			if mn == nil || !mn.Status().Synced {
				return fmt.Errorf("master %s not synced", m)
			}
		}
		// Every node has heard that the masters are synced.
		for _, n := range nodes {
			for _, ms := range n.Status().Members {
				if ms.Master && !ms.Synced {
					return fmt.Errorf("%s has not heard that master %s is synced", n.Addr(), ms.Addr)
				}
			}
		}
		masters = first.Masters
		return nil
	})
	return masters
}

func (c *testCluster) node(a netip.Addr) *testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[a]
}

// eventually polls f until it returns nil or the timeout passes, then
// fails with f's last error.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
