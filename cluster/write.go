package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// ErrConflict: no master applied the write, because each holds a newer
// version of the key (another writer's, there first); the write changed
// nothing. A write that one master applied before a newer one replaced it
// did happen, and is acknowledged.
var ErrConflict = errors.New("a newer write of the key is there")

// ConflictError is an ErrConflict with the version the masters hold.
type ConflictError struct{ Held store.Version }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: the masters hold version %s", ErrConflict, e.Held)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// maxWriteRounds bounds how many master pairs one write tries before it
// gives up with ErrNoMaster.
const maxWriteRounds = 4

// Write is a write through the cluster: a value, or a delete.
type Write struct {
	Value []byte
	// Delete removes the key (leaving a tombstone) instead of storing Value.
	Delete bool
	// TTL, when positive, makes the key expire everywhere after it.
	TTL time.Duration
	// Cond is checked by a synced master against the version it holds.
	Cond Condition
}

// WriteResult is what a successful Write reports.
type WriteResult struct {
	Entry   store.Entry  // the entry as written
	Masters []netip.Addr // the masters that hold it
	// Existed says, for a delete, whether the key was live when the
	// deciding master took the delete; ExistenceUnknown for a write, and
	// for a delete no master could decide in time (it was then made
	// unconditionally).
	Existed Existence
}

// Existence is what a delete found: whether the key it deleted existed.
type Existence uint8

// The Existence values.
const (
	ExistenceUnknown Existence = iota // not a delete, or no master could tell
	KeyExisted                        // the key was live: the delete removed it
	KeyAbsent                         // the key was absent, deleted or expired
)

// existenceTimeout bounds how long a delete waits for the deciding master
// to tell whether the key exists; past it the delete goes on without the
// answer, as a delete did before the masters told.
const existenceTimeout = 2 * time.Second

// Write stores w on every master and returns once every master of the
// current pair holds it. A master that cannot be reached is replaced and
// the write goes on to its successor. A conditional write is decided by
// one synced master first. Afterwards the other nodes are told by
// multicast to drop older copies.
func (n *Node) Write(ctx context.Context, key string, w Write) (WriteResult, error) {
	if n.closed.Load() {
		return WriteResult{}, ErrClosed
	}
	e := store.Entry{Value: w.Value, Deleted: w.Delete}
	if w.Delete {
		e.Value = nil
	} else if err := n.checkValue(w.Value); err != nil {
		return WriteResult{}, err
	}
	if w.TTL > 0 && !w.Delete {
		e.Expires = n.now().Add(w.TTL).UnixMilli()
	}
	pair, err := n.waitMasters(ctx)
	if err != nil {
		return WriteResult{}, err
	}
	held := map[netip.Addr]bool{}
	existed := ExistenceUnknown
	// decided: a master decided the write and stored this version.
	decided := false
	switch {
	case w.Cond.Any():
		var decider netip.Addr
		if e, decider, err = n.decide(ctx, key, e, w.Cond); err != nil {
			return WriteResult{}, err
		}
		held[decider], decided = true, true
		if w.Delete {
			// If-Match needs the key live; If-None-Match: * absent.
			existed = KeyExisted
			if w.Cond.IfAbsent {
				existed = KeyAbsent
			}
		}
	case w.Delete:
		// The deciding master deletes the key if it is live, and tells
		// whether it was. A delete of a key that is not there still
		// goes to every master, unconditionally: one master may hold a
		// copy the decider lacks, and the nodes drop their cached ones.
		dctx, dcancel := context.WithTimeout(ctx, existenceTimeout)
		de, decider, derr := n.decide(dctx, key, e, Condition{IfExists: true})
		dcancel()
		switch {
		case derr == nil:
			e, existed = de, KeyExisted
			held[decider], decided = true, true
		case errors.Is(derr, ErrPrecondition):
			existed = KeyAbsent
		case ctx.Err() != nil:
			return WriteResult{}, ctx.Err()
		}
		// Else no master could tell in time (an original among them, a
		// sync under way): the delete goes on without the answer. A
		// delete is idempotent, so one the decider took after all is
		// only replaced by this newer tombstone.
	}
	if !decided {
		e.Version = n.clock.Next()
	}
	// applied: a master stored this write's version (it may have been
	// replaced by a newer one since, which is a write that came after).
	applied := decided  // the deciding master stored it
	newest := e.Version // the newest version a master holds of the key
	// This node's own copy. A master's is durable, an fsync: it is taken
	// while the write goes to the other master, not before, and joined
	// before the write is answered.
	master := n.isMaster()
	var kept store.Entry
	var keepErr error
	keepDone := make(chan struct{})
	keepOwn := func() {
		defer close(keepDone)
		kept, keepErr = n.keep(key, e)
	}
	if master {
		go keepOwn()
	} else {
		keepOwn()
	}
	defer func() { <-keepDone }()
	joined := false
	joinKeep := func() error {
		if joined {
			return nil
		}
		joined = true
		<-keepDone
		if keepErr != nil {
			return keepErr
		}
		if master {
			held[n.self] = true
			applied = applied || kept.Version == e.Version
			newest = maxVersion(newest, kept.Version)
		}
		return nil
	}
	if !master {
		if err := joinKeep(); err != nil {
			return WriteResult{}, err
		}
	}
	for round := 0; round < maxWriteRounds; round++ {
		pair = n.Masters()
		var todo []netip.Addr
		for _, m := range pair.Masters {
			switch {
			case held[m]:
			case m == n.self && !joined:
				// Being kept (keepOwn): counted when joined.
			case m == n.self:
				// Became a master since the write began.
				h, err := n.Replicate(key, e, 0)
				if err != nil {
					return WriteResult{}, err
				}
				held[m] = true
				applied = applied || h.Version == e.Version
				newest = maxVersion(newest, h.Version)
			default:
				todo = append(todo, m)
			}
		}
		if len(todo) == 0 {
			if err := joinKeep(); err != nil {
				return WriteResult{}, err
			}
			if !applied {
				// Another writer's newer write was at every master first:
				// this one never happened, so it is not acknowledged.
				n.cache.invalidate(key, newest)
				return WriteResult{}, &ConflictError{Held: newest}
			}
			n.invalidate(key, e)
			return WriteResult{Entry: e, Masters: slices.Clone(pair.Masters), Existed: existed}, nil
		}
		vs, errs := n.forwardAll(ctx, todo, key, e, pair.Epoch)
		if err := joinKeep(); err != nil {
			return WriteResult{}, err
		}
		for i, m := range todo {
			switch {
			case errs[i] == nil:
				held[m] = true
				applied = applied || vs[i] == e.Version
				newest = maxVersion(newest, vs[i])
			case errors.Is(errs[i], ErrNotMaster):
				n.awaitPairAfter(ctx, pair) // our view is behind: wait for the newer pair
			case errors.Is(errs[i], ErrMasterRefused):
				return WriteResult{}, errs[i]
			case ctx.Err() != nil:
				return WriteResult{}, ctx.Err()
			case n.unreachable(m):
				if ctx.Err() != nil {
					return WriteResult{}, ctx.Err() // the client gave up meanwhile: its word is no evidence
				}
				n.lostMaster(m, errs[i])
			default:
				// It answers now: the failure was this node's (a pause, a
				// hiccup). Hear the cluster before trying again.
				n.awaitPairAfter(ctx, pair)
			}
		}
	}
	return WriteResult{}, fmt.Errorf("%w: masters kept failing", ErrNoMaster)
}

// decide has the first master of the pair check w's condition and
// version the entry: one node decides every conditional write of an
// epoch, so two of them cannot both succeed against the same version. A
// master that cannot be reached is replaced; one that is not ready (not
// synced, or at another epoch) is waited for.
func (n *Node) decide(ctx context.Context, key string, e store.Entry, cond Condition) (store.Entry, netip.Addr, error) {
	for round := 0; round < 2*maxWriteRounds; round++ {
		pair := n.Masters()
		if len(pair.Masters) == 0 {
			break
		}
		m := pair.Masters[0]
		cond.Epoch = pair.Epoch
		if m == n.self {
			held, err := n.Decide(key, e, cond)
			if errors.Is(err, ErrNotMaster) {
				n.awaitPairAfter(ctx, pair)
				continue
			}
			return held, m, err
		}
		v, err := n.peers.Decide(ctx, n.peer(m), key, e, cond)
		switch {
		case err == nil:
			if err := n.clock.Observe(v); err != nil {
				return store.Entry{}, netip.Addr{}, fmt.Errorf("%w: %s decided a version: %w", ErrMasterRefused, m, err)
			}
			e.Version = v
			return e, m, nil
		case errors.Is(err, ErrPrecondition), errors.Is(err, ErrMasterRefused):
			return store.Entry{}, netip.Addr{}, err
		case errors.Is(err, ErrNotMaster):
			n.awaitPairAfter(ctx, pair)
		case ctx.Err() != nil:
			return store.Entry{}, netip.Addr{}, ctx.Err()
		case n.unreachable(m):
			if ctx.Err() != nil {
				return store.Entry{}, netip.Addr{}, ctx.Err()
			}
			n.lostMaster(m, err)
		default:
			n.awaitPairAfter(ctx, pair)
		}
	}
	return store.Entry{}, netip.Addr{}, fmt.Errorf("%w: no master could decide the condition", ErrNoMaster)
}

// Replicate stores a versioned entry that a writer forwarded to this node
// as a master. It refuses with ErrNotMaster when this node is not a master
// and its view of the masters is at least as new as the writer's (epoch 0
// means unknown: accepted). It returns the entry held afterwards.
func (n *Node) Replicate(key string, e store.Entry, writerEpoch uint64) (store.Entry, error) {
	if e.Version.IsZero() {
		return store.Entry{}, fmt.Errorf("%w: replicated entry without a version", store.ErrBadVersion)
	}
	if err := n.checkValue(e.Value); err != nil {
		return store.Entry{}, err
	}
	v := n.view.Load()
	refuse := writerEpoch != 0 && !v.pair.Has(n.self) && v.pair.Epoch >= writerEpoch
	epoch := v.pair.Epoch
	if refuse {
		return store.Entry{}, fmt.Errorf("%w: masters are %s at epoch %d", ErrNotMaster, addrList(v.pair.Masters), epoch)
	}
	if err := n.clock.Observe(e.Version); err != nil {
		return store.Entry{}, err
	}
	held, _, err := n.durable.Put(key, e)
	if err != nil {
		return store.Entry{}, fmt.Errorf("store %q: %w", key, err)
	}
	n.cache.remove(key)
	if !n.isMaster() {
		// Taken for a writer whose view is as old as this node's: check it
		// against the masters, as everything a non-master holds durably.
		n.kickSync()
	}
	return held, nil
}

// Replica is a write forwarded to this node as a master: ReplicateBatch
// takes several at once.
type Replica struct {
	Key   string
	Entry store.Entry
	Epoch uint64 // the writer's master epoch (0: unknown)
}

// eachPutter is a store that stores a batch in one transaction and tells
// what it holds afterwards for each entry (store.Bolt, store.Memory).
type eachPutter interface {
	PutEach(batch []store.KeyEntry) ([]store.Entry, error)
}

// ReplicateBatch is Replicate of every write of rs, each checked as
// Replicate checks it (a version, its size, this node's view against the
// writer's epoch, the clock's skew), and those that pass stored together,
// in one transaction where the store can. held[i] and errs[i] are what
// Replicate would have returned for rs[i].
func (n *Node) ReplicateBatch(rs []Replica) (held []store.Entry, errs []error) {
	held, errs = make([]store.Entry, len(rs)), make([]error, len(rs))
	v := n.view.Load()
	master := v.pair.Has(n.self)
	batch := make([]store.KeyEntry, 0, len(rs))
	at := make([]int, 0, len(rs)) // batch[j] is rs[at[j]]
	for i, r := range rs {
		switch e := r.Entry; {
		case e.Version.IsZero():
			errs[i] = fmt.Errorf("%w: replicated entry without a version", store.ErrBadVersion)
		case n.checkValue(e.Value) != nil:
			errs[i] = n.checkValue(e.Value)
		case r.Epoch != 0 && !master && v.pair.Epoch >= r.Epoch:
			errs[i] = fmt.Errorf("%w: masters are %s at epoch %d", ErrNotMaster, addrList(v.pair.Masters), v.pair.Epoch)
		default:
			if err := n.clock.Observe(e.Version); err != nil {
				errs[i] = err
				continue
			}
			batch = append(batch, store.KeyEntry{Key: r.Key, Entry: e})
			at = append(at, i)
		}
	}
	if len(batch) == 0 {
		return held, errs
	}
	var got []store.Entry
	var err error
	if ep, ok := n.durable.(eachPutter); ok {
		got, err = ep.PutEach(batch)
	} else {
		got = make([]store.Entry, len(batch))
		for j, ke := range batch {
			if got[j], _, err = n.durable.Put(ke.Key, ke.Entry); err != nil {
				break
			}
		}
	}
	for j, i := range at {
		if err != nil {
			errs[i] = fmt.Errorf("store %q: %w", rs[i].Key, err)
			continue
		}
		held[i] = got[j]
		n.cache.remove(rs[i].Key)
	}
	if !n.isMaster() {
		n.kickSync() // as Replicate: what a non-master holds durably is checked
	}
	return held, errs
}

// unreachable checks, after a failed request, whether master m is really
// gone: it must not answer a probe within Config.ProbeTimeout. A node
// that was itself paused sees its requests time out while the others are
// fine; it must not replace a live master on that evidence.
//
// The probe has its own deadline, not the request's: a request whose
// client gave up (its context cancelled) says nothing about the master.
func (n *Node) unreachable(m netip.Addr) bool {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ProbeTimeout)
	defer cancel()
	return n.peers.Probe(ctx, n.peer(m)) != nil
}

// invalidate tells the other nodes that key now has e's version, so they
// drop older copies. When every other member is a master there is nobody
// to tell (a master holds every write, and never a cached copy), and no
// datagram is sent: in a cluster of three, the two masters and a writer.
// A node that joins by unicast and is not a master knows only part of the
// members: it always tells the masters, and the first relays (gossip.go).
func (n *Node) invalidate(key string, e store.Entry) {
	if !n.othersMayCache() && (!n.unicastOn() || n.isMaster()) {
		return
	}
	m := mcast.Message{Kind: mcast.Invalidate, Key: store.WireKey(key), Addr: n.self,
		Version: mcast.Stamp{Clock: e.Version.Clock, Node: e.Version.Node}}
	if e.Deleted {
		m.Flags |= mcast.FlagDeleted
	}
	n.send(m)
}

// othersMayCache reports whether a member other than this node and the
// masters is known: only such a node may hold a cached copy.
func (n *Node) othersMayCache() bool {
	v := n.view.Load()
	for a := range v.members {
		if !v.pair.Has(a) {
			return true
		}
	}
	return false
}

// onInvalidate drops this node's copy of a key older than the version
// announced. A master's own entries are kept: it holds every write.
func (n *Node) onInvalidate(p mcast.Packet, m mcast.Message) {
	if m.Addr != p.From.Addr() {
		n.stats.Refused.Add(1)
		return
	}
	v := store.Version{Clock: m.Version.Clock, Node: m.Version.Node}
	if err := n.clock.Observe(v); err != nil {
		n.stats.Refused.Add(1) // a version from the future would drop every copy
		return
	}
	key, err := store.KeyFromWire(m.Key)
	if err != nil {
		n.stats.BadDatagrams.Add(1)
		return
	}
	dropped := n.cache.invalidate(key, v)
	if !n.isMaster() {
		if e, ok := n.durable.Get(key); ok && v.Newer(e.Version) {
			if ok, err := n.durable.Delete(key, e.Version); err == nil && ok {
				dropped = true
			}
		}
	}
	if dropped {
		n.stats.Invalidated.Add(1)
	}
	n.relayInvalidation(p, m, key, v)
}

// maxVersion returns the newer of a and b.
func maxVersion(a, b store.Version) store.Version {
	if b.Newer(a) {
		return b
	}
	return a
}

// forwardAll sends e to every master in to at once and returns the
// versions they hold afterwards and their errors, index by index.
func (n *Node) forwardAll(ctx context.Context, to []netip.Addr, key string, e store.Entry, epoch uint64) ([]store.Version, []error) {
	vs := make([]store.Version, len(to))
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	last := len(to) - 1
	for i, m := range to[:last] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], errs[i] = n.peers.Forward(ctx, n.peer(m), key, e, epoch)
		}()
	}
	// The last on this goroutine: one goroutine fewer per write.
	vs[last], errs[last] = n.peers.Forward(ctx, n.peer(to[last]), key, e, epoch)
	wg.Wait()
	return vs, errs
}

// waitMasters returns the current pair, waiting for one to be chosen
// while the node joins.
func (n *Node) waitMasters(ctx context.Context) (election.Pair, error) {
	limit := time.NewTimer(4*n.cfg.HeartbeatInterval + n.cfg.MulticastTimeout)
	defer limit.Stop()
	for {
		v := n.view.Load()
		p, wait := v.pair, v.changed
		if len(p.Masters) > 0 {
			return p, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return p, ctx.Err()
		case <-n.stop:
			return p, ErrClosed
		case <-limit.C:
			return p, fmt.Errorf("%w: masters not known yet", ErrNoMaster)
		}
	}
}

// awaitPairAfter waits, at most two heartbeat intervals, for the pair to
// change from old or for the other master to finish its sync.
func (n *Node) awaitPairAfter(ctx context.Context, old election.Pair) {
	v := n.view.Load()
	changed, wait := !v.pair.Equal(old), v.changed
	if changed {
		return
	}
	t := time.NewTimer(2 * n.cfg.HeartbeatInterval)
	defer t.Stop()
	select {
	case <-wait:
	case <-t.C:
	case <-ctx.Done():
	case <-n.stop:
	}
}

func (n *Node) checkValue(value []byte) error {
	if int64(len(value)) > n.cfg.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(value), n.cfg.MaxValueSize)
	}
	return nil
}
