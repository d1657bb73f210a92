package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/diststore/diststore/store"
)

// ErrPrecondition: a conditional write's condition does not hold.
var ErrPrecondition = errors.New("precondition failed")

// ErrNotMaster: a node that is not a synced master was asked to decide a
// conditional write.
var ErrNotMaster = errors.New("not a synced master")

// Condition is a conditional write's precondition, checked against the
// version the deciding master holds.
type Condition struct {
	// IfMatch, when set, requires the key to hold exactly this version.
	IfMatch *store.Version
	// IfExists requires the key to exist (If-Match: *).
	IfExists bool
	// IfAbsent requires the key not to exist (If-None-Match: *).
	IfAbsent bool
	// Epoch is the master epoch the writer chose the deciding master in;
	// the decider refuses a write from another epoch (0: not checked).
	Epoch uint64
}

// Any reports whether c has a condition on the key.
func (c Condition) Any() bool { return c.IfMatch != nil || c.IfExists || c.IfAbsent }

// check reports whether c holds for the entry held (ok false if none).
func (c Condition) check(held store.Entry, ok bool, nowMs int64) error {
	live := ok && held.Live(nowMs)
	switch {
	case c.IfAbsent && live:
		return fmt.Errorf("%w: key exists", ErrPrecondition)
	case c.IfExists && !live:
		return fmt.Errorf("%w: key does not exist", ErrPrecondition)
	case c.IfMatch != nil && (!live || held.Version != *c.IfMatch):
		return fmt.Errorf("%w: version is not %s", ErrPrecondition, c.IfMatch)
	}
	return nil
}

func (n *Node) nowMs() int64 { return n.now().UnixMilli() }

// lookupLocal returns key's live entry held here: owned, or a cached copy.
// touch marks a cached copy recently used.
func (n *Node) lookupLocal(key string, touch bool) (store.Entry, bool) {
	if !n.demoting.Load() {
		if e, ok := n.durable.Get(key); ok {
			if e.Live(n.nowMs()) {
				return e, true
			}
			return store.Entry{}, false // deleted or expired: a copy in the cache is older
		}
	}
	if touch {
		return n.cache.get(key)
	}
	return n.cache.peek(key)
}

// listChunk is the most keys ListKeys hands to its fn at once.
const listChunk = 512

// ListKeys calls fn with every key this node holds live, owned or cached,
// once each and in key order, a chunk of at most listChunk keys at a time
// and never an empty one, until fn returns an error, which ListKeys
// returns. keys is valid only during the call.
//
// No value is read. The durable store, as large as the data, is walked a
// chunk at a time (store.RangeKeys), each chunk in its own short read
// transaction. The cache is bounded by CacheMaxBytes, so its keys are
// taken at once, sorted, and merged in: a string header per cached key,
// under a tenth of what the entry counts against CacheMaxBytes.
func (n *Node) ListKeys(fn func(keys []string) error) error {
	return n.ListKeysAfter("", fn)
}

// ListKeysAfter is ListKeys of the keys after the key after ("" for all),
// for a listing in pages: each page starts after the last key of the one
// before.
func (n *Node) ListKeysAfter(after string, fn func(keys []string) error) error {
	cached := n.cache.sortedKeys()
	if i, found := slices.BinarySearch(cached, after); after != "" {
		if found {
			i++
		}
		cached = cached[i:]
	}
	out := make([]string, 0, listChunk)
	emit := func(k string) error {
		out = append(out, k)
		if len(out) < listChunk {
			return nil
		}
		err := fn(out)
		out = out[:0]
		return err
	}
	err := n.durable.RangeKeys(after, n.nowMs(), func(keys []string) error {
		for _, k := range keys {
			// The cached keys up to k; one equal to k is listed once.
			for len(cached) > 0 && cached[0] <= k {
				if cached[0] < k {
					if err := emit(cached[0]); err != nil {
						return err
					}
				}
				cached = cached[1:]
			}
			if err := emit(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range cached {
		if err := emit(k); err != nil {
			return err
		}
	}
	if len(out) == 0 {
		return nil
	}
	return fn(out)
}

// isMaster reports whether this node is one of the current masters.
func (n *Node) isMaster() bool { return n.view.Load().isMaster(n.self) }

// keep stores a copy of e held here: owned by a master, in the cache on
// any other node. It returns the entry held afterwards.
func (n *Node) keep(key string, e store.Entry) (store.Entry, error) {
	if err := n.clock.Observe(e.Version); err != nil {
		return store.Entry{}, fmt.Errorf("keep %q: %w", key, err)
	}
	if n.isMaster() {
		held, _, err := n.durable.Put(key, e)
		if err != nil {
			return store.Entry{}, fmt.Errorf("store %q: %w", key, err)
		}
		return held, nil
	}
	if cur, ok := n.durable.Get(key); ok && !e.Version.Newer(cur.Version) {
		return cur, nil
	}
	n.cache.put(key, e)
	return e, nil
}

// StoreLocal stores e under key on this node only, versioned by this
// node's clock (POST /local/<key> from from, the original's write of one
// node): a master keeps it durably, any other node as a copy no master
// holds. It returns the entry held afterwards.
//
// From an original node it is that node forwarding a write it took to the
// masters it elected: a write through the cluster (Write), so that it
// reaches every master, and one that a newer write beat is taken as done
// (the original drops its client's connection on any answer but 200).
func (n *Node) StoreLocal(ctx context.Context, from netip.Addr, key string, e store.Entry) (store.Entry, error) {
	if err := n.checkValue(e.Value); err != nil {
		return store.Entry{}, err
	}
	if n.isOriginal(from) && !e.Deleted {
		res, err := n.Write(ctx, key, Write{Value: e.Value})
		if c := (*ConflictError)(nil); errors.As(err, &c) {
			return store.Entry{Version: c.Held}, nil
		}
		return res.Entry, err
	}
	e.Version = n.clock.Next()
	was := n.holdsLocal()
	if !n.isMaster() {
		n.cache.add(key, e, true) // a local-only value: no master holds it
	} else {
		held, err := n.keep(key, e)
		if err != nil {
			return store.Entry{}, err
		}
		// The other masters get it with their next digest check; a check
		// that begins after this (the count moves once the value is
		// stored) and finds them agreeing ends holdsLocal.
		n.localWrites.Add(1)
		e = held
	}
	if !was && n.holdsLocal() { // a delete of a key held only here leaves nothing to say
		// Until they hear it, the others resolve their misses with the
		// masters alone (or, on one master's word, that they lack a key).
		n.inLoop(func() { n.send(n.heartbeatMsg()) })
	}
	return e, nil
}

// holdsLocal reports whether this node may hold values stored with POST
// /local that a master lacks: as a copy no master holds, or as a master
// whose last digest check did not find the others holding what it took
// so (once it is no longer a master, the new masters get all it held
// before it drops it: demote). Its heartbeats say so (FlagLocalKeys).
func (n *Node) holdsLocal() bool {
	return n.cache.holdsOnly() || (n.isMaster() && n.localWrites.Load() != n.localAgreed.Load())
}

// Decide checks a conditional write's condition against what this node
// holds and, if it holds, versions e and stores it, atomically. Only the
// first master of the pair, synced, decides, and only for a writer that
// chose it in the current epoch (cond.Epoch, 0: any); otherwise it
// returns ErrNotMaster. The writer then replicates the entry to the other
// masters.
func (n *Node) Decide(key string, e store.Entry, cond Condition) (store.Entry, error) {
	if err := n.checkValue(e.Value); err != nil {
		return store.Entry{}, err
	}
	v := n.view.Load()
	decider := len(v.pair.Masters) > 0 && v.pair.Masters[0] == n.self && v.synced &&
		(cond.Epoch == 0 || cond.Epoch == v.pair.Epoch)
	if !decider {
		return store.Entry{}, fmt.Errorf("%w: not the deciding master at epoch %d", ErrNotMaster, v.pair.Epoch)
	}
	mu := n.keyLock(key)
	mu.Lock()
	defer mu.Unlock()
	held, ok := n.durable.Get(key)
	if err := cond.check(held, ok, n.nowMs()); err != nil {
		return store.Entry{}, err
	}
	e.Version = n.clock.Next()
	held, _, err := n.durable.Put(key, e)
	if err != nil {
		return store.Entry{}, fmt.Errorf("store %q: %w", key, err)
	}
	return held, nil
}

var lockSeed = maphash.MakeSeed()

func (n *Node) keyLock(key string) *sync.Mutex {
	return &n.keyLocks[maphash.String(lockSeed, key)%uint64(len(n.keyLocks))]
}

// purge removes from the durable store the entries past their expiry and
// the tombstones older than the tombstone TTL, and the cache's expired
// copies. It returns how many entries it removed.
func (n *Node) purge() int {
	now := n.nowMs()
	tombCutoff := uint64(n.now().Add(-n.cfg.TombstoneTTL).UnixMilli()) << 16
	type victim struct {
		key string
		v   store.Version
	}
	var victims []victim
	n.durable.Range(func(k string, e store.Entry) bool {
		if (e.Deleted && e.Version.Clock < tombCutoff) || (!e.Deleted && !e.Live(now)) {
			victims = append(victims, victim{k, e.Version})
		}
		return true
	})
	removed := 0
	for _, v := range victims {
		// Only the version seen: a newer write meanwhile stays.
		if ok, err := n.durable.Delete(v.key, v.v); err != nil {
			n.log.Warn("purge failed", "err", err)
			break
		} else if ok {
			removed++
		}
	}
	removed += n.cache.purgeExpired()
	n.stats.Purged.Add(uint64(removed))
	return removed
}

// promote moves the copies this node cached into its durable store: a new
// master keeps what it has and fills the rest by sync.
//
// Each copy is stored durably before it leaves the cache, and a dump
// includes the cache, so a partner syncing from this node meanwhile sees
// every copy one way or the other.
func (n *Node) promote() error {
	for k, e := range n.cache.snapshot() {
		if _, _, err := n.durable.Put(k, e); err != nil {
			return fmt.Errorf("promote %q: %w", k, err)
		}
		n.cache.removeIf(k, e.Version)
	}
	return nil
}

// janitorDue reports whether a purge is due, given when the last one ran.
func (n *Node) janitorDue(last time.Time) bool {
	return n.now().Sub(last) >= n.cfg.JanitorInterval
}
