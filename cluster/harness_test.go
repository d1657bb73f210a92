package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// memPeers is an in-memory cluster.Peers: a table of the running nodes by
// address, whose methods it calls directly, with no sockets and no HTTP.
// It maps errors as the HTTP implementation does: a node that is not in
// the table cannot be reached; a write it refuses is ErrNotMaster,
// ErrPrecondition or else ErrMasterRefused. Every node of a test cluster
// shares one table.
type memPeers struct {
	mu    sync.RWMutex // guards nodes and origs
	nodes map[netip.Addr]*cluster.Node
	// origs are the original pydiststore nodes on the fake network, whose
	// /list and /getlocal ListOriginal and FetchOriginal read.
	origs map[netip.Addr]*memOriginal
}

var _ cluster.Peers = (*memPeers)(nil)

func newMemPeers() *memPeers {
	return &memPeers{nodes: map[netip.Addr]*cluster.Node{}, origs: map[netip.Addr]*memOriginal{}}
}

// set puts n in the table at a, or takes a out of it when n is nil.
func (m *memPeers) set(a netip.Addr, n *cluster.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n == nil {
		delete(m.nodes, a)
		return
	}
	m.nodes[a] = n
}

// node returns the node at to, or the error a request to it would fail
// with: ctx's, or a refused connection.
func (m *memPeers) node(ctx context.Context, to netip.AddrPort) (*cluster.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	n := m.nodes[to.Addr()]
	m.mu.RUnlock()
	if n == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	return n, nil
}

// refused maps the error a node's write returned as a PeerClient does the
// status the server answers it with.
func refused(to netip.AddrPort, err error) error {
	if err == nil || errors.Is(err, cluster.ErrNotMaster) || errors.Is(err, cluster.ErrPrecondition) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", cluster.ErrMasterRefused, to.Addr(), err)
}

// sent is e as a request carries it: its own copy of the value, none for
// a tombstone.
func sent(e store.Entry) store.Entry {
	if e.Deleted {
		e.Value, e.Expires = nil, 0
	} else {
		e.Value = bytes.Clone(e.Value)
	}
	return e
}

func (m *memPeers) Forward(ctx context.Context, to netip.AddrPort, key string, e store.Entry, epoch uint64) (store.Version, error) {
	n, err := m.node(ctx, to)
	if err != nil {
		return store.Version{}, fmt.Errorf("write to %s: %w", to.Addr(), err)
	}
	held, err := n.Replicate(key, sent(e), epoch)
	if err != nil {
		return store.Version{}, refused(to, err)
	}
	return held.Version, nil
}

func (m *memPeers) Decide(ctx context.Context, to netip.AddrPort, key string, e store.Entry, cond cluster.Condition) (store.Version, error) {
	n, err := m.node(ctx, to)
	if err != nil {
		return store.Version{}, fmt.Errorf("write to %s: %w", to.Addr(), err)
	}
	e = sent(e)
	e.Version = store.Version{} // the decider versions it
	held, err := n.Decide(key, e, cond)
	if err != nil {
		return store.Version{}, refused(to, err)
	}
	return held.Version, nil
}

func (m *memPeers) Fetch(ctx context.Context, to netip.AddrPort, key string) (store.Entry, error) {
	m.mu.RLock()
	o := m.origs[to.Addr()]
	m.mu.RUnlock()
	if o != nil {
		if v, ok := o.get(store.WireKey(key)); ok {
			return store.Entry{Value: v}, nil // the original sends no version
		}
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", to.Addr(), cluster.ErrNotFound)
	}
	n, err := m.node(ctx, to)
	if err != nil {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", to.Addr(), err)
	}
	e, ok := n.GetLocal(key)
	if !ok {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", to.Addr(), cluster.ErrNotFound)
	}
	return store.Entry{Value: bytes.Clone(e.Value), Version: e.Version, Expires: e.Expires}, nil
}

// Dump streams the node's WriteDump through a pipe, as a response body
// does: ctx ending or Close cuts it, and the writer stops.
func (m *memPeers) Dump(ctx context.Context, to netip.AddrPort, values bool) (io.ReadCloser, error) {
	n, err := m.node(ctx, to)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	go func() {
		defer stop()
		pw.CloseWithError(n.WriteDump(pw, values)) // nil: the reader sees io.EOF
	}()
	return pr, nil
}

func (m *memPeers) Probe(ctx context.Context, to netip.AddrPort) error {
	_, err := m.node(ctx, to)
	return err
}

func (m *memPeers) Digest(ctx context.Context, to netip.AddrPort) (cluster.Digest, error) {
	n, err := m.node(ctx, to)
	if err != nil {
		return cluster.Digest{}, err
	}
	return n.Digest(), nil
}

// Close does nothing: the table outlives every node that shares it.
func (m *memPeers) Close() error { return nil }

// testCluster runs nodes in one process over a fake multicast network and
// the in-memory table of peers.
type testCluster struct {
	t     testing.TB
	net   *mcast.MemNetwork
	peers *memPeers
	cfg   cluster.Config
	// via, when set, carries the nodes' requests instead of peers: a
	// wrapper of peers that a test makes misbehave.
	via   cluster.Peers
	mu    sync.Mutex
	nodes map[netip.Addr]*testNode
	// joins says, for a node number, how it joins by unicast; nodes not
	// in it use the group only.
	joins map[int]joinPlan
	// unicast holds each running node's unicast address by address, for
	// seedsOf. Not under mu: the cleanup holds mu while it closes nodes,
	// whose loops read their seeds.
	unicast sync.Map
}

// joinPlan is how a test node joins by unicast: its seeds are the nodes
// numbered in seeds (those running when asked), and noGroup takes it off
// the multicast group.
type joinPlan struct {
	noGroup bool
	seeds   []int
}

// joinBy makes node i, when started, join by unicast through the nodes
// numbered seeds; noGroup takes it off the group.
func (c *testCluster) joinBy(i int, noGroup bool, seeds ...int) {
	if c.joins == nil {
		c.joins = map[int]joinPlan{}
	}
	c.joins[i] = joinPlan{noGroup: noGroup, seeds: seeds}
}

// seedsOf returns the Seeds of a node joining through the nodes numbered
// in seeds: the unicast addresses of those running when it is called.
func (c *testCluster) seedsOf(seeds []int) func() []netip.AddrPort {
	return func() []netip.AddrPort {
		var out []netip.AddrPort
		for _, j := range seeds {
			if a, ok := c.unicast.Load(addr(j)); ok {
				out = append(out, a.(netip.AddrPort))
			}
		}
		return out
	}
}

type testNode struct {
	*cluster.Node
	tr mcast.Transport
	st store.Store
}

// Put writes value under key through the node, as a client's POST does.
func (n *testNode) Put(ctx context.Context, key string, value []byte) (cluster.WriteResult, error) {
	return n.Write(ctx, key, cluster.Write{Value: value})
}

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 2, byte(i)}) }

func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	c := &testCluster{
		t:     t,
		net:   mcast.NewMemNetwork(),
		peers: newMemPeers(),
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
	cfg.Peers = c.peers
	if c.via != nil {
		cfg.Peers = c.via
	}
	var tr mcast.Transport
	if plan, ok := c.joins[i]; ok {
		cfg.Seeds, cfg.NoMulticast = c.seedsOf(plan.seeds), plan.noGroup
	}
	if cfg.NoMulticast {
		tr = c.net.JoinNoGroup(a)
	} else {
		tr = c.net.Join(a)
	}
	n, err := cluster.New(cfg, tr, st)
	require.NoError(c.t, err)
	c.unicast.Store(a, tr.LocalAddr())
	c.peers.set(a, n)
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
	c.peers.set(a, nil)
	c.unicast.Delete(a)
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

// ListOriginal lists the keys of an original node as it holds them, or
// a diststore node's keys as /list does, each in its wire form.
func (m *memPeers) ListOriginal(ctx context.Context, to netip.AddrPort, fn func(string) error) error {
	m.mu.RLock()
	o := m.origs[to.Addr()]
	m.mu.RUnlock()
	if o != nil {
		for _, k := range o.keys() {
			if err := fn(k); err != nil {
				return err
			}
		}
		return nil
	}
	n, err := m.node(ctx, to)
	if err != nil {
		return err
	}
	return n.ListKeys(func(keys []string) error {
		for _, k := range keys {
			if err := fn(store.WireKey(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *memPeers) FetchOriginal(ctx context.Context, to netip.AddrPort, token string) ([]byte, error) {
	m.mu.RLock()
	o := m.origs[to.Addr()]
	m.mu.RUnlock()
	if o != nil {
		if v, ok := o.get(token); ok {
			return v, nil
		}
		return nil, fmt.Errorf("fetch from %s: %w", to.Addr(), cluster.ErrNotFound)
	}
	key, err := store.KeyFromWire(token)
	if err != nil {
		return nil, fmt.Errorf("fetch from %s: %w", to.Addr(), cluster.ErrNotFound)
	}
	e, err := m.Fetch(ctx, to, key)
	return e.Value, err
}
