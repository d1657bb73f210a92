package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/store"
)

// errPairNotSynced: the current pair is not yet one a demoted node may
// hand its durable copy to (see demote); it waits and tries again.
var errPairNotSynced = errors.New("new masters not all synced yet")

// writeBackConcurrency bounds the writes a demoted node sends to the
// masters at once when it writes back what they lack.
const writeBackConcurrency = 16

// demoteIncomplete is a demotion that read the masters' versions but could
// not verify every entry this node holds durably on every master: those
// entries stay durable, reads keep skipping them, and the sync loop tries
// again later (see syncLoop).
type demoteIncomplete struct {
	pair       election.Pair
	held       int   // entries held durably when the attempt began
	unverified int   // entries still held durably: not verified on every master
	dropped    int   // entries verified and dropped from the durable store
	pushed     int   // entries written back to at least one master
	failed     int   // write-backs that a master refused or did not answer
	ahead      int   // versions of a master too far ahead of this node's clock
	err        error // the first error met (a failed write-back or read); may be nil
}

func (d *demoteIncomplete) Error() string {
	s := fmt.Sprintf("%d of %d entries not verified on every master of epoch %d: kept durable (written back %d, failed %d, versions too far ahead %d)",
		d.unverified, d.held, d.pair.Epoch, d.pushed, d.failed, d.ahead)
	if d.err != nil {
		s += ": " + d.err.Error()
	}
	return s
}

func (d *demoteIncomplete) Unwrap() error { return d.err }

// logAttrs are d's counts as log fields.
func (d *demoteIncomplete) logAttrs() []any {
	a := []any{"epoch", d.pair.Epoch, "masters", addrList(d.pair.Masters), "entries", d.held,
		"unverified", d.unverified, "dropped", d.dropped, "written_to_masters", d.pushed,
		"write_back_failed", d.failed, "versions_ahead", d.ahead}
	if d.err != nil {
		a = append(a, "err", d.err.Error())
	}
	return a
}

// demote runs on a node that is not a master: if it holds entries durably
// (after a restart, or after it was replaced as master) they may be older
// than the cluster's, so reads skip them (n.demoting) until they are
// checked; and they may be the only copy of a write the new masters lack,
// so the durable copy is dropped only once the new pair holds it.
//
// The rule: nothing is checked until the current pair is settled in this
// node's view (as many masters as the cluster has seats for, each a live
// member; election.Settled) and every master has said, in a heartbeat
// holding this pair, that it is synced; until then demote returns
// errPairNotSynced. Then it reads the versions every master holds (its
// dump without values) and writes each entry to the masters that lack it
// or hold it older. An entry is verified when every master holds it at
// the same version or a newer one (tombstones count; an entry that has
// expired here is verified by a master listing nothing for it, as a dump
// leaves out what has expired). After a write-back the masters' versions
// are read again: a master that answered may still not hold the entry.
// Only verified entries leave the durable store: those every master holds
// at this very version, live, become cache entries; the others are
// dropped. An entry that is not verified stays durable and demote returns
// a *demoteIncomplete; the sync loop tries again after a backoff. Once
// nothing is left the node stops skipping its durable store for reads.
//
// If the node is elected master again meanwhile, it stops: what it holds
// durably is a master's data again and the sync decides.
func (n *Node) demote() error {
	held := false
	n.durable.Range(func(string, store.Entry) bool { held = true; return false })
	// On the loop, so that an election cannot come between the check and
	// the flag: a master never hides its own data.
	var (
		pair   election.Pair
		master bool
		wait   string
	)
	n.inLoop(func() {
		pair = n.own.pair
		master = pair.Has(n.self)
		n.demoting.Store(held && !master)
		if held && !master {
			wait = n.pairNotReady()
		}
	})
	if !held || master { // nothing to check, or elected since
		return nil
	}
	if wait != "" {
		return fmt.Errorf("%w: %s", errPairNotSynced, wait)
	}

	start := n.now()
	mine := make(map[string]store.Entry)
	n.durable.Range(func(k string, e store.Entry) bool { mine[k] = e; return true })
	res := &demoteIncomplete{pair: pair, held: len(mine), unverified: len(mine)}

	theirs, ahead, err := n.versionsOnMasters(pair, mine)
	res.ahead = ahead
	if err != nil {
		res.err = err
		return res
	}
	if n.isMaster() {
		return nil // elected meanwhile (which ended the check): the sync decides
	}

	// Write back, several at a time, each entry to the masters that lack
	// it or hold it older: until this is done they answer "no such key"
	// for what only this node holds.
	now := n.nowMs()
	var (
		wb errgroup.Group
		mu sync.Mutex // guards res.failed and res.err while writing back
	)
	wb.SetLimit(writeBackConcurrency)
	for k, e := range mine {
		var to []netip.Addr
		for i, m := range pair.Masters {
			// A version too far ahead is not written over: it is newer.
			if h, ok := theirs[i][k]; !covered(e, h, ok, now) && !h.ahead {
				to = append(to, m)
			}
		}
		if len(to) == 0 {
			continue
		}
		res.pushed++
		wb.Go(func() error {
			if err := n.writeBack(pair.Epoch, to, k, e); err != nil {
				mu.Lock()
				defer mu.Unlock()
				res.failed++
				if res.err == nil {
					res.err = fmt.Errorf("demote %q: %w", k, err)
				}
			}
			return nil // the others go on: only verified entries are dropped
		})
	}
	_ = wb.Wait()
	if res.pushed > 0 {
		// A master that answered may not hold it after all (or may have
		// lost it since): what counts is what each master lists now.
		if theirs, res.ahead, err = n.versionsOnMasters(pair, mine); err != nil {
			if res.err == nil {
				res.err = err
			}
			return res
		}
		now = n.nowMs()
	}
	if !n.view.Load().pair.Equal(pair) {
		// The pair changed (which kicked the sync loop): what was checked
		// is no longer what the current masters hold.
		return fmt.Errorf("%w: the masters changed during the check", errPairNotSynced)
	}

	cached := 0
	for k, e := range mine {
		verified, same := true, true
		for i := range pair.Masters {
			h, ok := theirs[i][k]
			if !covered(e, h, ok, now) {
				verified = false
				break
			}
			same = same && ok && h.v == e.Version
		}
		if n.isMaster() {
			return nil // elected meanwhile: the rest is a master's data again
		}
		if !verified {
			continue
		}
		// Only if it is still what this node holds: an invalidation may
		// have dropped it, or a forwarded write replaced it, meanwhile.
		if cur, ok := n.durable.Get(k); !ok || cur.Version != e.Version {
			continue
		}
		if same && e.Live(now) {
			n.cache.put(k, e)
			cached++
		}
		ok, err := n.durable.Delete(k, e.Version)
		if err != nil {
			if res.err == nil {
				res.err = fmt.Errorf("demote %q: %w", k, err)
			}
			break
		}
		if ok {
			res.dropped++
		}
	}

	left := 0
	n.durable.Range(func(string, store.Entry) bool { left++; return true })
	if res.unverified = left; left > 0 {
		return res
	}
	// On the loop, as above; and only if nothing arrived meanwhile (a
	// write forwarded to this node by a writer that still took it for a
	// master): that is checked at the next attempt, which it kicked.
	n.inLoop(func() {
		empty := true
		n.durable.Range(func(string, store.Entry) bool { empty = false; return false })
		if empty && !n.own.pair.Has(n.self) {
			n.demoting.Store(false)
		}
	})
	n.log.Info("not a master: every entry it held is on every master; durable copy dropped",
		"epoch", pair.Epoch, "masters", addrList(pair.Masters), "entries", res.held,
		"written_to_masters", res.pushed, "kept_as_cache", cached,
		"took", n.now().Sub(start).Round(time.Millisecond).String())
	return nil
}

// pairNotReady says, on the loop, why this node may not yet hand its
// durable copy to the current pair, or "" if it may: the pair must be
// settled in this node's view, and every master must be a live member
// whose last heartbeat held this pair and said it is synced. A pair named
// by one forged heartbeat, or whose new master is still copying, is not.
func (n *Node) pairNotReady() string {
	o := &n.own
	if !election.Settled(n.viewOf(0), o.pair) {
		return fmt.Sprintf("pair %s at epoch %d is not settled among %d members",
			addrList(o.pair.Masters), o.pair.Epoch, len(o.members)+1)
	}
	for _, m := range o.pair.Masters {
		if mem, ok := o.members[m]; !ok || !mem.synced || !mem.pair.Equal(o.pair) {
			return fmt.Sprintf("master %s has not said it is synced at epoch %d", m, o.pair.Epoch)
		}
	}
	return ""
}

// heldVersion is the version a master holds of a key, and whether it is
// too far ahead of this node's clock to be trusted.
type heldVersion struct {
	v     store.Version
	ahead bool
}

// covered reports whether a master holding h of a key (ok false: it lists
// nothing for it) holds what this node's entry e of it says: e's version
// or a newer one, tombstones included. An entry that has expired here is
// covered by a master listing nothing (a dump leaves out what has expired,
// and there is nothing to read). A version too far ahead of this node's
// clock proves nothing.
func covered(e store.Entry, h heldVersion, ok bool, nowMs int64) bool {
	if !ok {
		return !e.Deleted && !e.Live(nowMs)
	}
	return !h.ahead && !e.Version.Newer(h.v)
}

// versionsOnMasters reads, for every master of pair in order, the version
// it holds of each key of mine, from its dump without values, and counts
// the versions too far ahead of this node's clock.
func (n *Node) versionsOnMasters(pair election.Pair, mine map[string]store.Entry) ([]map[string]heldVersion, int, error) {
	out := make([]map[string]heldVersion, len(pair.Masters))
	ahead := 0
	for i, m := range pair.Masters {
		vs, k, err := n.versionsOn(m, mine)
		if err != nil {
			return nil, ahead, err
		}
		out[i] = vs
		ahead += k
	}
	return out, ahead, nil
}

// versionsOn reads the version master m holds of each key of mine.
func (n *Node) versionsOn(m netip.Addr, mine map[string]store.Entry) (map[string]heldVersion, int, error) {
	body, cancel, err := n.openDump(m, false)
	if err != nil {
		return nil, 0, fmt.Errorf("versions from %s: %w", m, err)
	}
	defer cancel()
	defer body.Close()
	out := make(map[string]heldVersion)
	err = readDump(body, n.cfg.MaxValueSize, func(d dumpEntry) error {
		if _, ok := mine[d.key]; !ok {
			return nil
		}
		// A dump lists a master's cache too, while it moves it to disk:
		// the newer of two listings is what it will hold.
		if h, ok := out[d.key]; !ok || d.entry.Version.Newer(h.v) {
			out[d.key] = heldVersion{v: d.entry.Version, ahead: n.clock.Check(d.entry.Version) != nil}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("versions from %s: %w", m, err)
	}
	ahead := 0
	for _, h := range out {
		if h.ahead {
			ahead++
		}
	}
	return out, ahead, nil
}

// writeBack writes e to the masters to of the pair at epoch, as a writer
// forwards; the error names the first master that did not take it.
func (n *Node) writeBack(epoch uint64, to []netip.Addr, key string, e store.Entry) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.WriteBackTimeout)
	defer cancel()
	_, errs := n.forwardAll(ctx, to, key, e, epoch)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("write to master %s: %w", to[i], err)
		}
	}
	return nil
}
