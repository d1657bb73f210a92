package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/diststore/diststore/api"
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

// Node is one diststore node. Build it with New, run it with Start, stop it
// with Close.
//
// Who owns what: the membership loop (run, in membership.go) owns the
// members, the master pair and whether this node is synced; it publishes
// an immutable view that everyone else reads without a lock. Open
// queries belong to miss resolution (queries), the durable store and the
// cache lock themselves, and demoting is set when this node loses its seat
// and cleared by the sync loop once every entry it held durably is
// verified on every master and dropped (demote).
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

	// view is the membership as the loop last published it.
	view atomic.Pointer[view]
	// own is the membership loop's state; only the loop touches it.
	own owned
	// requests are functions the membership loop runs for others.
	requests chan func()

	queries  queries
	demoting atomic.Bool // entries in durable may be stale: reads skip them until handed to the masters

	// keyLocks serialise conditional writes of one key on this node.
	keyLocks [64]sync.Mutex

	syncKick chan struct{} // wakes the sync loop; buffered 1
	stop     chan struct{}
	wg       sync.WaitGroup
	// flights counts miss resolutions in progress; Close waits for them.
	flights  sync.WaitGroup
	started  atomic.Bool
	leaving  atomic.Bool // Leave was called: heartbeats say so
	closed   atomic.Bool
	closeMu  sync.Mutex   // held by Close throughout, so a second Close waits for the first
	flightMu sync.RWMutex // orders a flight's start (read) with Close setting closed (write)

	stats counters
	// localWrites counts the values this node, as a master, stored with
	// POST /local for a client (on this master only); localAgreed is
	// what localWrites was when a digest check that began after them
	// found every other master holding the same data. While they
	// differ, this master may hold keys another lacks (holdsLocal).
	localWrites, localAgreed atomic.Uint64
	// multicastWarned is when a failed multicast was last logged as a
	// warning (Unix nanoseconds).
	multicastWarned atomic.Int64

	// migrateKick wakes the migrate loop (migrate.go); buffered 1.
	migrateKick chan struct{}
	// migration is the migrate loop's last report, for Status.
	migration atomic.Pointer[migrationReport]
}

// counters are what a Node counts; Status reads them.
type counters struct {
	LocalHits    atomic.Uint64
	RemoteHits   atomic.Uint64
	Misses       atomic.Uint64
	Elections    atomic.Uint64
	Syncs        atomic.Uint64
	SyncFailures atomic.Uint64 // syncs (or demotions) that failed and are retried
	BadDatagrams atomic.Uint64
	Refused      atomic.Uint64 // datagrams not answered: spoofed or reflecting
	Invalidated  atomic.Uint64 // cached copies dropped on an invalidation
	Purged       atomic.Uint64 // expired entries and old tombstones removed
	SyncNanos    atomic.Int64  // time spent in completed syncs
	Queries      atomic.Uint64 // whohas this node sent
	Direct       atomic.Uint64 // misses it asked of the synced masters alone (a whohas follows only if none answered)
	Answers      atomic.Uint64 // gotkey and nokey answers it received
}

// Counters are a node's counts since it started, as Status reports them.
type Counters struct {
	LocalHits, RemoteHits, Misses uint64 // reads served here, fetched, not found
	Elections, Syncs              uint64
	SyncFailures                  uint64  // syncs that failed and are retried
	SyncSeconds                   float64 // total time of completed syncs
	BadDatagrams, Refused         uint64  // datagrams malformed; not answered (spoofed or reflecting)
	Queries, Answers              uint64  // whohas sent, answers received
	Direct                        uint64  // misses asked of the synced masters alone
	Invalidated, Purged           uint64  // cached copies dropped on an invalidation; expired entries removed
	CacheEvicted, CacheExpired    uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		LocalHits:    c.LocalHits.Load(),
		RemoteHits:   c.RemoteHits.Load(),
		Misses:       c.Misses.Load(),
		Elections:    c.Elections.Load(),
		Syncs:        c.Syncs.Load(),
		SyncFailures: c.SyncFailures.Load(),
		SyncSeconds:  time.Duration(c.SyncNanos.Load()).Seconds(),
		BadDatagrams: c.BadDatagrams.Load(),
		Refused:      c.Refused.Load(),
		Queries:      c.Queries.Load(),
		Answers:      c.Answers.Load(),
		Direct:       c.Direct.Load(),
		Invalidated:  c.Invalidated.Load(),
		Purged:       c.Purged.Load(),
	}
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
		clock:    store.NewClock(cfg.Addr, nil, cfg.MaxClockSkew),
		log:      cfg.Logger.With("node", cfg.Addr.String()),
		now:      time.Now,
		requests: make(chan func()),
		syncKick: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	n.migrateKick = make(chan struct{}, 1)
	n.own.members = make(map[netip.Addr]*member)
	n.own.originals = make(map[netip.Addr]*original)
	n.own.candidates = make(map[netip.Addr]*candidate)
	n.queries.open = make(map[string]*query)
	n.view.Store(&view{members: map[netip.Addr]memberView{}, changed: make(chan struct{})})
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.peers = cfg.Peers
	n.cache = newCache(cfg.CacheMaxBytes, cfg.CacheTTL, n.now)
	n.hot = newHotKeys(cfg.CacheMinReads, cfg.CacheTTL, n.now)
	// Move the clock past everything the store already holds, so a new
	// write is newer than any version this node wrote before a restart;
	// but not past its skew: those entries get a version of now.
	if err := n.repairVersions(); err != nil {
		return nil, err
	}
	return n, nil
}

// repairVersions moves the clock past every version the durable store
// holds, and re-versions with the clock's next version the entries whose
// version is too far ahead of it (written while a clock was wrong, or
// forged): left alone they would win over every later write of their key.
func (n *Node) repairVersions() error {
	var ahead []store.KeyEntry
	n.durable.Range(func(k string, e store.Entry) bool {
		if n.clock.Observe(e.Version) != nil {
			ahead = append(ahead, store.KeyEntry{Key: k, Entry: e})
		}
		return true
	})
	for _, ke := range ahead {
		if _, err := n.durable.Delete(ke.Key, ke.Entry.Version); err != nil {
			return fmt.Errorf("repair %q: %w", ke.Key, err)
		}
		e := ke.Entry
		e.Version = n.clock.Next()
		if _, _, err := n.durable.Put(ke.Key, e); err != nil {
			return fmt.Errorf("repair %q: %w", ke.Key, err)
		}
	}
	if len(ahead) > 0 {
		n.log.Warn("re-versioned entries whose versions were too far ahead of the clock",
			"entries", len(ahead), "max_clock_skew", n.cfg.MaxClockSkew.String())
	}
	return nil
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
	n.goFunc(n.run)
	n.goFunc(n.syncLoop)
	n.goFunc(n.migrateLoop)
	return nil
}

// enterFlight registers a miss resolution that Close must wait for; it
// reports false once the node is closed. The caller calls n.flights.Done.
func (n *Node) enterFlight() bool {
	n.flightMu.RLock()
	defer n.flightMu.RUnlock()
	if n.closed.Load() {
		return false
	}
	n.flights.Add(1)
	return true
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
	var successors []netip.Addr
	var hb mcast.Message
	n.inLoop(func() {
		o := &n.own
		if o.pair.Has(n.self) && len(o.members) > 0 {
			next := election.Replace(n.viewOf(n.durable.Len()), o.pair, n.self)
			for _, m := range next.Masters {
				if !o.pair.Has(m) {
					successors = append(successors, m)
				}
			}
			n.stats.Elections.Add(1)
			n.adopt(next, "handing over: leaving")
			n.publish()
		}
		hb = n.heartbeatMsg()
	})
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
		v := n.view.Load()
		done, gone := true, false
		for _, a := range as {
			m, ok := v.members[a]
			done = done && ok && m.synced && v.pair.Has(a)
			gone = gone || !ok || !v.pair.Has(a) // it left too, or was replaced
		}
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
	n.flightMu.Lock()
	wasClosed := n.closed.Swap(true)
	n.flightMu.Unlock()
	if wasClosed {
		return nil
	}
	close(n.stop)
	n.cancel()
	n.wg.Wait()
	n.flights.Wait()
	_ = n.peers.Close()
	n.log.Info("node stopped")
	return nil
}

// Addr is the node's address.
func (n *Node) Addr() netip.Addr { return n.self }

// Ready reports whether the node has joined: the bootstrap is over and it
// knows its masters.
func (n *Node) Ready() bool { return n.view.Load().ready() }

// MemberStatus is one member as Status reports it. The type is the API's
// (GET /status), defined once in package api for the node and its clients.
type MemberStatus = api.MemberStatus

// Status is the node's view of the cluster and everything it counts: the
// one snapshot of a node that GET /status, the page and /metrics read.
// The document /status serves is api.Status, embedded; the other fields
// carry no JSON name and are for /metrics only.
type Status struct {
	api.Status
	Counters   Counters    `json:"-"`
	StoreBytes int64       `json:"-"` // size of the durable store, if it can tell
	CacheBytes int64       `json:"-"`
	Transport  mcast.Stats `json:"-"`
}

// Status returns the node's view of the cluster, members sorted by address.
func (n *Node) Status() Status {
	keys := n.durable.Len()
	cs := n.cache.stats()
	v := n.view.Load()
	s := Status{
		Status: api.Status{
			Addr:        n.self.String(),
			Masters:     []string{},
			Epoch:       v.pair.Epoch,
			IsMaster:    v.isMaster(n.self),
			Synced:      v.authoritative(n.self),
			Ready:       v.ready(),
			Reconciling: n.demoting.Load(),
			Keys:        keys,
			Cached:      cs.Entries,
			CacheMB:     float64(cs.Bytes) / (1 << 20),
		},
		Counters:   n.stats.snapshot(),
		CacheBytes: cs.Bytes,
		Transport:  n.tr.Stats(),
	}
	s.Local, s.Remote, s.Misses = s.Counters.LocalHits, s.Counters.RemoteHits, s.Counters.Misses
	s.Counters.CacheEvicted, s.Counters.CacheExpired = cs.Evicted, cs.Expired
	if sz, ok := n.durable.(interface{ Size() int64 }); ok {
		s.StoreBytes = sz.Size()
	}
	for _, m := range v.pair.Masters {
		s.Masters = append(s.Masters, m.String())
	}
	s.Members = append(s.Members, MemberStatus{Addr: n.self.String(), Keys: uint64(keys), Master: s.IsMaster, Synced: s.Synced,
		Kind: api.KindDiststore, Migrated: v.migrated && len(v.originals) > 0})
	for a, m := range v.members {
		s.Members = append(s.Members, MemberStatus{Addr: a.String(), Keys: m.keys, Master: v.pair.Has(a), Synced: m.synced,
			Kind: api.KindDiststore, Migrated: m.migrated && len(v.originals) > 0, Found: m.found})
	}
	n.originalsStatus(&s, v)
	slices.SortFunc(s.Members, func(a, b MemberStatus) int {
		return netip.MustParseAddr(a.Addr).Compare(netip.MustParseAddr(b.Addr))
	})
	return s
}

// Masters returns the current master pair.
func (n *Node) Masters() election.Pair { return n.view.Load().pair }

// jitter returns d varied by ±10%.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// send encodes and multicasts m, logging a failure, and, for a node that
// joins by unicast, sends a heartbeat, bye, invalidation or masterlost by
// unicast to every member that does not hear the group too (gossip.go).
func (n *Node) send(m mcast.Message) {
	n.multicast(m)
	if !n.unicastOn() {
		return
	}
	switch m.Kind {
	case mcast.Heartbeat, mcast.Bye, mcast.Invalidate, mcast.MasterLost:
		for _, to := range n.view.Load().unicastTo {
			n.reply(to, m)
		}
	}
}

// multicast encodes and multicasts m, logging a failure. Without the
// group it sends nothing.
func (n *Node) multicast(m mcast.Message) {
	if n.cfg.NoMulticast {
		return
	}
	b, err := m.Encode()
	if err == nil {
		err = n.tr.Multicast(b)
	}
	if err != nil && !n.closed.Load() {
		// A network that drops multicast fails every send: say so once a
		// minute, not every heartbeat.
		level := slog.LevelDebug
		if now := n.now().UnixNano(); now-n.multicastWarned.Load() >= int64(time.Minute) {
			n.multicastWarned.Store(now)
			level = slog.LevelWarn
		}
		n.log.Log(n.ctx, level, "multicast failed", "kind", m.Kind.String(), "err", err)
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
