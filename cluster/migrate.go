package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/store"
)

// The migrate loop: while original nodes are on the group, a synced
// master copies every key they hold that it does not, as the original's
// own master sync does: GET /list of each original, then GET
// /getlocal/<key> of each key it lacks. Each master copies for itself.
//
//   - Order: the originals as they rank their own masters (most keys
//     first), so a key comes from the nodes every write through the
//     originals went to, not from a stale copy another original cached.
//   - Versions: a copy gets copyVersion (the copy's time in seconds): a
//     key this master holds in any form (a write through diststore, a
//     tombstone, an earlier copy) is never replaced by a copy, and any
//     write through diststore, earlier or later, wins over one. Once the
//     originals have elected the diststore masters (original.go, steer),
//     every write through an original reaches the masters as a write
//     through the cluster, so nothing written through them is older than
//     what the pass read.
//   - Timing: a pass copies only once every original has elected this
//     pair (it asked for key counts after this node became a synced master
//     of it, see original.go) at least migrateSettle ago, when its
//     election is over; then every Config.MigrateInterval.
//   - Bounds: a /list of at most maxOriginalKeys lines of at most
//     store.MaxWireKeyLen bytes, read within migrateListTimeout; at most
//     migrateBatch keys copied per pass (the next pass follows at once),
//     at most migrateRate a second, one request at a time, each within
//     Config.FetchTimeout and Config.MaxValueSize.
//
// When a pass finds every key of every original held here it says so in
// its heartbeats (FlagMigrated): /status shows the migration done once
// every master says it.

const (
	maxOriginalKeys    = 1 << 20
	migrateBatch       = 10000
	migrateRate        = 200 // keys a second
	migrateListTimeout = 2 * time.Minute
)

// errTooManyKeys: an original node listed more than maxOriginalKeys keys.
var errTooManyKeys = errors.New("more keys listed than this node copies from one original node")

// migrationReport is the migrate loop's last pass, for Status.
type migrationReport struct {
	pair    election.Pair
	missing map[netip.Addr]int // per original: keys it listed that this node lacks
}

func (n *Node) kickMigrate() {
	select {
	case n.migrateKick <- struct{}{}:
	default:
	}
}

// migrateSettle is how long after a kick a pass starts: the first master
// steers the originals at its next tick, and they elect within the
// multicast timeout.
func (n *Node) migrateSettle() time.Duration {
	return 2*n.cfg.MulticastTimeout + 2*n.cfg.HeartbeatInterval
}

func (n *Node) migrateLoop() {
	t := time.NewTimer(n.cfg.MigrateInterval)
	defer t.Stop()
	due := n.now().Add(n.cfg.MigrateInterval)
	for {
		select {
		case <-n.stop:
			return
		case <-n.migrateKick:
			if at := n.now().Add(n.migrateSettle()); at.Before(due) {
				due = at
				t.Reset(n.migrateSettle())
			}
			continue
		case <-t.C:
		}
		next := jitter(n.cfg.MigrateInterval)
		if n.migrateOnce() {
			next = n.cfg.HeartbeatInterval // a batch was cut short: go on
		}
		due = n.now().Add(next)
		t.Reset(next)
	}
}

// migrateOnce runs one pass if this node is a synced master and original
// nodes are on the group. It reports whether keys were left for the next
// pass by the batch bound.
func (n *Node) migrateOnce() (more bool) {
	v := n.view.Load()
	if !v.authoritative(n.self) || len(v.originals) == 0 {
		n.migration.Store(nil)
		return false
	}
	start := n.now()
	pair := v.pair
	// Copy only once every original has elected this pair and its
	// election is over: from then on every write through it reaches the
	// masters, so what a pass reads is never overtaken by a write that
	// reaches only the originals (a held key is never copied again).
	for a, orig := range v.originals {
		if orig.steeredAt.IsZero() {
			n.log.Debug("not copying yet: an original node has not elected the masters", "original", a.String())
			return false // its election kicks the loop
		}
		if wait := orig.steeredAt.Add(n.migrateSettle()).Sub(start); wait > 0 {
			return true // soon
		}
	}
	report := &migrationReport{pair: pair, missing: map[netip.Addr]int{}}
	budget := migrateBatch
	complete, missing, copied := true, 0, 0
	for _, a := range rankOriginals(v.originals) {
		r := n.migrateFrom(a, &budget)
		report.missing[a] = r.missing
		missing += r.missing
		copied += r.copied
		more = more || r.cut
		if r.err != nil {
			complete = false
			n.log.Warn("copying from an original node failed; will retry", "original", a.String(), "err", r.err)
		}
		if w := n.view.Load(); !w.pair.Equal(pair) || !w.authoritative(n.self) {
			n.migration.Store(nil)
			return false
		}
	}
	n.migration.Store(report)
	done := complete && missing == 0
	if n.setMigrated(pair, slices.Collect(maps.Keys(v.originals)), done) || copied > 0 {
		n.log.Info("copied keys from the original nodes", "copied", copied, "missing", missing, "done", done,
			"originals", len(v.originals), "took", n.now().Sub(start).Round(time.Millisecond).String())
	}
	return more
}

// migrateResult is what one pass did with one original node.
type migrateResult struct {
	copied  int
	missing int  // keys it listed that this node lacks after the pass
	cut     bool // the batch bound left keys for the next pass
	err     error
}

// migrateFrom copies from original node a the keys it lists that this
// node lacks, at most *budget of them (taken from the budget).
func (n *Node) migrateFrom(a netip.Addr, budget *int) migrateResult {
	var r migrateResult
	ctx, cancel := context.WithTimeout(n.ctx, migrateListTimeout)
	defer cancel()
	var todo []string
	listed, bad := 0, 0
	err := n.peers.ListOriginal(ctx, n.peer(a), func(tok string) error {
		listed++
		if listed > maxOriginalKeys {
			return fmt.Errorf("%w: over %d", errTooManyKeys, maxOriginalKeys)
		}
		key, err := store.KeyFromWire(tok)
		if err != nil {
			bad++ // a key diststore cannot hold: missing for good
			return nil
		}
		if _, held := n.durable.Get(key); held {
			return nil
		}
		if len(todo) < *budget {
			todo = append(todo, tok)
		} else {
			r.missing++
			r.cut = true
		}
		return nil
	})
	r.missing += bad
	if bad > 0 {
		n.log.Warn("an original node holds keys diststore cannot hold (whitespace or control characters, or longer than 250 bytes, once unescaped); they are not copied",
			"original", a.String(), "keys", bad)
	}
	if err != nil {
		r.err = fmt.Errorf("list: %w", err)
		r.missing += len(todo)
		return r
	}
	*budget -= len(todo)
	gap := time.Second / migrateRate
	next := time.Now()
	failed := 0
	var lastErr error
	for i, tok := range todo {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-n.stop:
				r.missing += len(todo) - i
				return r
			case <-time.After(wait):
			}
		}
		next = next.Add(gap)
		if i%64 == 0 && !n.view.Load().authoritative(n.self) {
			r.missing += len(todo) - i
			return r
		}
		fctx, fcancel := context.WithTimeout(n.ctx, n.cfg.FetchTimeout)
		value, err := n.peers.FetchOriginal(fctx, n.peer(a), tok)
		fcancel()
		switch {
		case errors.Is(err, ErrNotFound):
			continue // gone from it since it listed it
		case err != nil:
			failed++
			lastErr = err
			continue
		}
		key, _ := store.KeyFromWire(tok) // checked above
		if _, _, err := n.durable.Put(key, store.Entry{Value: value, Version: n.copyVersion(a)}); err != nil {
			failed++
			lastErr = err
			continue
		}
		r.copied++
	}
	r.missing += failed
	if failed > 0 {
		r.err = fmt.Errorf("%d keys not copied: %w", failed, lastErr)
	}
	return r
}

// setMigrated records, on the loop, whether this node as a master of
// pair holds every key of the original nodes origs, and announces a
// change in a heartbeat. A pair changed meanwhile, or an original heard
// since the pass began, leaves it false. It reports whether it changed.
func (n *Node) setMigrated(pair election.Pair, origs []netip.Addr, done bool) (changed bool) {
	n.inLoop(func() {
		o := &n.own
		if !o.pair.Equal(pair) || !o.synced {
			return
		}
		if done {
			for a, orig := range o.originals {
				// Every original known when the pass began, and, on the
				// first master, every one has elected this pair: until
				// then its writes may reach only other originals.
				if !slices.Contains(origs, a) || orig.steered != o.pair.Epoch || orig.steeredAt.Before(o.syncedAt) {
					done = false
				}
			}
		}
		if o.migrated == done {
			return
		}
		o.migrated, changed = done, true
		n.publish()
		n.send(n.heartbeatMsg())
	})
	return changed
}

// originalsStatus adds the original nodes and the migration to s, from
// view v.
func (n *Node) originalsStatus(s *Status, v *view) {
	if len(v.originals) == 0 {
		return
	}
	rep := n.migration.Load()
	if rep != nil && !rep.pair.Equal(v.pair) {
		rep = nil
	}
	mig := &api.Migration{Originals: len(v.originals), Done: len(v.pair.Masters) > 0, Pending: []string{}}
	for a, orig := range v.originals {
		m := MemberStatus{Addr: a.String(), Keys: orig.keys, Kind: api.KindOriginal}
		if rep != nil {
			m.Missing = rep.missing[a]
		}
		s.Members = append(s.Members, m)
		mig.OriginalKeys += orig.keys
	}
	for _, m := range v.pair.Masters {
		migrated := v.migrated
		if m != n.self {
			migrated = v.members[m].migrated
		}
		if !migrated {
			mig.Done = false
			mig.Pending = append(mig.Pending, m.String())
		}
	}
	s.Migration = mig
}
