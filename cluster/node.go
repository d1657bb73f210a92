package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// Errors returned by a Node. The HTTP layer maps them to statuses.
var (
	// ErrNotFound: no node of the cluster holds the key.
	ErrNotFound = errors.New("key not found")
	// ErrNoMaster: no master could take a write.
	ErrNoMaster = errors.New("no master can take the write")
	// ErrMasterRefused: a master answered a forwarded write with an error.
	ErrMasterRefused = errors.New("master refused the write")
	// ErrTooLarge: a value is larger than Config.MaxValueSize.
	ErrTooLarge = errors.New("value too large")
	// ErrClosed: the node is shut down.
	ErrClosed = errors.New("node closed")
)

// Source says where a value a Node served came from.
type Source string

// Sources.
const (
	SourceLocal Source = "local"
	SourcePeer  Source = "peer"
)

// member is what a node knows of another.
type member struct {
	keys     uint64
	lastSeen time.Time
	synced   bool // it says it is a master holding every key
}

// Node is one diststore node. Build it with New, run it with Start, stop it
// with Close.
type Node struct {
	cfg  Config
	self netip.Addr
	tr   mcast.Transport
	// durable holds what this node owns: as a master every key, with
	// tombstones; cache holds the copies a non-master keeps.
	durable store.Store
	cache   *cache
	hot     *hotKeys
	clock   *store.Clock
	log     *slog.Logger
	peers   Peers
	flight  singleflight.Group
	// ctx is cancelled by Close: it ends the node's outgoing requests.
	ctx    context.Context
	cancel context.CancelFunc
	now    func() time.Time

	mu        sync.Mutex // guards the fields below
	members   map[netip.Addr]*member
	pair      election.Pair
	booted    bool          // the bootstrap window is over or a pair was learnt
	synced    bool          // as a master, this node holds every key
	pairWait  chan struct{} // closed and replaced whenever pair changes
	lastReply time.Time     // last heartbeat sent in answer to another node
	queries   map[string]*query
	demoting  bool // entries in durable may be stale: reads skip them until reconciled

	// keyLocks serialise conditional writes of one key on this node.
	keyLocks [64]sync.Mutex

	syncKick chan struct{} // wakes the sync loop; buffered 1
	stop     chan struct{}
	wg       sync.WaitGroup
	started  atomic.Bool
	leaving  atomic.Bool // Leave was called: heartbeats say so
	closed   atomic.Bool
	closeMu  sync.Mutex

	stats Stats
}

// Stats are counters a Node keeps; read them with Node.Stats.
type Stats struct {
	LocalHits    atomic.Uint64
	RemoteHits   atomic.Uint64
	Misses       atomic.Uint64
	Elections    atomic.Uint64
	Syncs        atomic.Uint64
	BadDatagrams atomic.Uint64
	Refused      atomic.Uint64 // datagrams not answered: spoofed or reflecting
	Invalidated  atomic.Uint64 // cached copies dropped on an invalidation
	Purged       atomic.Uint64 // expired entries and old tombstones removed
	SyncNanos    atomic.Int64  // time spent in completed syncs
	Queries      atomic.Uint64 // whohas this node sent
	Answers      atomic.Uint64 // gotkey and nokey answers it received
}

// Metrics is a snapshot of a node's counters and sizes, for monitoring.
type Metrics struct {
	LocalHits, RemoteHits, Misses uint64
	Elections, Syncs              uint64
	SyncSeconds                   float64 // total time of completed syncs
	BadDatagrams, Refused         uint64
	Queries, Answers              uint64 // whohas sent, answers received
	Invalidated, Purged           uint64
	Keys                          int   // keys held durably
	StoreBytes                    int64 // size of the durable store, if it can tell
	Cached                        int
	CacheBytes                    int64
	CacheEvicted, CacheExpired    uint64
	Members                       int // other live members
	IsMaster, Synced              bool
	Epoch                         uint64
	Transport                     mcast.Stats
}

// Metrics returns a snapshot of the node's counters and sizes.
func (n *Node) Metrics() Metrics {
	cs := n.cache.stats()
	m := Metrics{
		LocalHits:    n.stats.LocalHits.Load(),
		RemoteHits:   n.stats.RemoteHits.Load(),
		Misses:       n.stats.Misses.Load(),
		Elections:    n.stats.Elections.Load(),
		Syncs:        n.stats.Syncs.Load(),
		SyncSeconds:  time.Duration(n.stats.SyncNanos.Load()).Seconds(),
		BadDatagrams: n.stats.BadDatagrams.Load(),
		Refused:      n.stats.Refused.Load(),
		Queries:      n.stats.Queries.Load(),
		Answers:      n.stats.Answers.Load(),
		Invalidated:  n.stats.Invalidated.Load(),
		Purged:       n.stats.Purged.Load(),
		Keys:         n.durable.Len(),
		Cached:       cs.Entries,
		CacheBytes:   cs.Bytes,
		CacheEvicted: cs.Evicted,
		CacheExpired: cs.Expired,
		Transport:    n.tr.Stats(),
	}
	if s, ok := n.durable.(interface{ Size() int64 }); ok {
		m.StoreBytes = s.Size()
	}
	n.mu.Lock()
	m.Members = len(n.members)
	m.IsMaster = n.pair.Has(n.self)
	m.Synced = m.IsMaster && n.synced
	m.Epoch = n.pair.Epoch
	n.mu.Unlock()
	return m
}

// New builds a Node over a transport and a durable store; it does not
// start it. The caller keeps ownership of tr and durable and closes them
// after Close.
func New(cfg Config, tr mcast.Transport, durable store.Store) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{
		cfg:      cfg,
		self:     cfg.Addr,
		tr:       tr,
		durable:  durable,
		clock:    store.NewClock(cfg.Addr, nil),
		log:      cfg.Logger.With("node", cfg.Addr.String()),
		now:      time.Now,
		members:  make(map[netip.Addr]*member),
		pairWait: make(chan struct{}),
		queries:  make(map[string]*query),
		syncKick: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.peers = cfg.Peers
	n.cache = newCache(cfg.CacheMaxBytes, cfg.CacheTTL, n.now)
	n.hot = newHotKeys(cfg.CacheMinReads, cfg.CacheTTL, n.now)
	// Move the clock past everything the store already holds, so a new
	// write is newer than any version this node wrote before a restart.
	durable.Range(func(_ string, e store.Entry) bool {
		n.clock.Observe(e.Version)
		return true
	})
	return n, nil
}

// Start runs the node's goroutines: the receiver, the heartbeat ticker and
// the sync loop. It returns at once.
func (n *Node) Start() error {
	if n.closed.Load() {
		return ErrClosed
	}
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("node already started")
	}
	n.log.Info("node starting", "unicast", n.tr.LocalAddr().String(), "http_port", n.cfg.HTTPPort)
	n.goFunc(n.receiveLoop)
	n.goFunc(n.tickLoop)
	n.goFunc(n.syncLoop)
	return nil
}

func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Leave tells the cluster this node is going away, so the others stop
// counting on it at once rather than after the failure timeout. A master
// first hands its seat over: it proposes the pair without itself and waits,
// until ctx ends, for its successor to finish copying every key (from it
// or the other master), so that a planned stop never leaves one copy. The
// node must still serve HTTP meanwhile.
func (n *Node) Leave(ctx context.Context) {
	if !n.started.Load() || n.closed.Load() || n.leaving.Swap(true) {
		return
	}
	n.mu.Lock()
	wasMaster := n.pair.Has(n.self)
	var successors []netip.Addr
	if wasMaster && len(n.members) > 0 {
		next := election.Replace(n.viewLocked(n.durable.Len()), n.pair, n.self)
		for _, m := range next.Masters {
			if !n.pair.Has(m) {
				successors = append(successors, m)
			}
		}
		n.stats.Elections.Add(1)
		n.adoptLocked(next, "handing over: leaving")
	}
	hb := n.heartbeatLocked()
	n.mu.Unlock()
	if len(successors) > 0 {
		n.send(hb)
		start := n.now()
		if n.awaitSynced(ctx, successors) {
			n.log.Info("handed over", "to", addrList(successors), "took", n.now().Sub(start).Round(time.Millisecond).String())
		} else {
			n.log.Warn("leaving before the successor finished its sync", "to", addrList(successors), "err", ctx.Err())
		}
	}
	n.send(mcast.Message{Kind: mcast.Bye, Addr: n.self})
	n.log.Info("node leaving")
}

// awaitSynced waits until every node in as says in its heartbeats that it
// is a synced master, or ctx ends. It polls a few times per heartbeat.
func (n *Node) awaitSynced(ctx context.Context, as []netip.Addr) bool {
	t := time.NewTicker(n.cfg.HeartbeatInterval / 10)
	defer t.Stop()
	for {
		n.mu.Lock()
		done, gone := true, false
		for _, a := range as {
			m := n.members[a]
			done = done && m != nil && m.synced && n.pair.Has(a)
			gone = gone || m == nil || !n.pair.Has(a) // it left too, or was replaced
		}
		n.mu.Unlock()
		if done {
			return true
		}
		if gone {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-n.stop:
			return false
		case <-t.C:
		}
	}
}

// Close stops the node's goroutines and waits for them. It is safe to call
// more than once.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed.Swap(true) {
		return nil
	}
	close(n.stop)
	n.cancel()
	n.wg.Wait()
	_ = n.peers.Close()
	n.log.Info("node stopped")
	return nil
}

// Addr is the node's address.
func (n *Node) Addr() netip.Addr { return n.self }

// Stats returns the node's counters.
func (n *Node) Stats() *Stats { return &n.stats }

// Ready reports whether the node has joined: the bootstrap is over and it
// knows its masters.
func (n *Node) Ready() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.booted && len(n.pair.Masters) > 0
}

// MemberStatus is one member as Status reports it.
type MemberStatus struct {
	Addr   string `json:"addr"`
	Keys   uint64 `json:"keys"`
	Master bool   `json:"master"`
	Synced bool   `json:"synced"`
}

// Status is the node's view of the cluster.
type Status struct {
	Addr     string   `json:"addr"`
	Masters  []string `json:"masters"`
	Epoch    uint64   `json:"epoch"`
	IsMaster bool     `json:"is_master"`
	Synced   bool     `json:"synced"`
	Ready    bool     `json:"ready"`
	// Reconciling: this node holds entries from before it was demoted or
	// restarted that it has not yet checked against the masters (and
	// written back what they lack); until then reads skip them.
	Reconciling bool           `json:"reconciling"`
	Keys        int            `json:"keys"`
	Cached      int            `json:"cached"`
	CacheMB     float64        `json:"cache_mib"`
	Members     []MemberStatus `json:"members"`
	Local       uint64         `json:"reads_local"`
	Remote      uint64         `json:"reads_remote"`
	Misses      uint64         `json:"reads_missed"`
}

// Status returns the node's view of the cluster, members sorted by address.
func (n *Node) Status() Status {
	keys := n.durable.Len()
	cs := n.cache.stats()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Status{
		Addr:        n.self.String(),
		Masters:     []string{},
		Epoch:       n.pair.Epoch,
		IsMaster:    n.pair.Has(n.self),
		Synced:      n.pair.Has(n.self) && n.synced,
		Ready:       n.booted && len(n.pair.Masters) > 0,
		Reconciling: n.demoting,
		Keys:        keys,
		Cached:      cs.Entries,
		CacheMB:     float64(cs.Bytes) / (1 << 20),
		Local:       n.stats.LocalHits.Load(),
		Remote:      n.stats.RemoteHits.Load(),
		Misses:      n.stats.Misses.Load(),
	}
	for _, m := range n.pair.Masters {
		s.Masters = append(s.Masters, m.String())
	}
	for _, m := range n.viewLocked(keys) {
		ms := MemberStatus{Addr: m.Addr.String(), Keys: m.Keys, Master: n.pair.Has(m.Addr)}
		if m.Addr == n.self {
			ms.Synced = s.Synced
		} else {
			ms.Synced = n.members[m.Addr].synced
		}
		s.Members = append(s.Members, ms)
	}
	return s
}

// Masters returns the current master pair.
func (n *Node) Masters() election.Pair {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pair
}

// jitter returns d varied by ±10%.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// send encodes and multicasts m, logging a failure.
func (n *Node) send(m mcast.Message) {
	b, err := m.Encode()
	if err == nil {
		err = n.tr.Multicast(b)
	}
	if err != nil && !n.closed.Load() {
		n.log.Warn("multicast failed", "kind", m.Kind.String(), "err", err)
	}
}

// reply encodes and unicasts m to to.
func (n *Node) reply(to netip.AddrPort, m mcast.Message) {
	b, err := m.Encode()
	if err == nil {
		err = n.tr.Unicast(to, b)
	}
	if err != nil && !n.closed.Load() {
		n.log.Warn("unicast failed", "kind", m.Kind.String(), "to", to.String(), "err", err)
	}
}

func (n *Node) String() string { return fmt.Sprintf("node %s", n.self) }
