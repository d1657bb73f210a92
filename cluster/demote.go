package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/store"
)

// errNoSyncedMaster: there is no synced master to check against yet.
var errNoSyncedMaster = errors.New("no synced master yet")

// writeBackConcurrency bounds the writes a demoted node sends to the
// masters at once when it writes back what they lack.
const writeBackConcurrency = 16

// demote runs on a node that is not a master: if it holds entries durably
// (after a restart, or after it was replaced as master) they may be older
// than the cluster's, so reads skip them until they are checked against a
// synced master's versions (tombstones included). An entry the master
// holds at the same version becomes a cache entry; one the master holds
// newer is dropped; one the master lacks, or holds older, is written to
// the masters first (the masters that replaced this node after both
// failed at once may not have it), then kept as a cache entry.
func (n *Node) demote(pair election.Pair) error {
	held := false
	n.durable.Range(func(string, store.Entry) bool { held = true; return false })
	// On the loop, so that an election cannot come between the check and
	// the flag: a master never hides its own data.
	var src netip.Addr
	var master bool
	n.inLoop(func() {
		o := &n.own
		master = o.pair.Has(n.self)
		n.demoting.Store(held && !master)
		for _, m := range pair.Masters {
			if mem, ok := o.members[m]; ok && mem.synced {
				src = m
				break
			}
		}
	})
	if !held || master { // nothing to check, or elected since
		return nil
	}
	if !src.IsValid() {
		return errNoSyncedMaster
	}

	start := n.now()
	theirs := make(map[string]store.Version)
	body, cancel, err := n.openDump(src, false)
	if err != nil {
		return fmt.Errorf("versions from %s: %w", src, err)
	}
	skewed := 0
	err = readDump(body, n.cfg.MaxValueSize, func(d dumpEntry) error {
		if n.clock.Check(d.entry.Version) != nil {
			skewed++ // treated as absent: this node's copy is written back
			return nil
		}
		theirs[d.key] = d.entry.Version
		return nil
	})
	if skewed > 0 {
		n.log.Warn("master's versions too far ahead of this node's clock: ignored", "master", src.String(), "entries", skewed)
	}
	body.Close()
	cancel()
	if err != nil {
		return fmt.Errorf("versions from %s: %w", src, err)
	}
	if n.isMaster() {
		return nil // elected meanwhile (which ended the check): the sync decides
	}
	type owned struct {
		key string
		e   store.Entry
	}
	var mine, push []owned
	n.durable.Range(func(k string, e store.Entry) bool {
		mine = append(mine, owned{k, e})
		if v, ok := theirs[k]; !ok || e.Version.Newer(v) {
			push = append(push, owned{k, e})
		}
		return true
	})
	// Write back first, several at a time: until this is done the masters
	// answer "no such key" for what only this node holds.
	var wb errgroup.Group
	wb.SetLimit(writeBackConcurrency)
	for _, h := range push {
		wb.Go(func() error {
			if err := n.pushToMasters(pair, h.key, h.e); err != nil {
				return fmt.Errorf("demote %q: %w", h.key, err)
			}
			return nil
		})
	}
	if err := wb.Wait(); err != nil {
		return err
	}
	for _, h := range push {
		theirs[h.key] = h.e.Version
	}
	kept, now := 0, n.nowMs()
	for _, h := range mine {
		// Only if it is still what this node holds (an invalidation may
		// have dropped it meanwhile) and the masters hold this version.
		if cur, ok := n.durable.Get(h.key); ok && cur.Version == h.e.Version && theirs[h.key] == h.e.Version && h.e.Live(now) {
			n.cache.put(h.key, h.e)
			kept++
		}
		if _, err := n.durable.Delete(h.key, h.e.Version); err != nil {
			return fmt.Errorf("demote %q: %w", h.key, err)
		}
	}
	pushed := len(push)
	n.inLoop(func() {
		if !n.own.pair.Has(n.self) {
			n.demoting.Store(false)
		}
	})
	n.log.Info("not a master: checked what it held against a master", "master", src.String(),
		"entries", len(mine), "written_to_masters", pushed, "kept_as_cache", kept,
		"took", n.now().Sub(start).Round(time.Millisecond).String())
	return nil
}

// pushToMasters writes e to every master of pair, as a writer forwards.
func (n *Node) pushToMasters(pair election.Pair, key string, e store.Entry) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.WriteBackTimeout)
	defer cancel()
	_, errs := n.forwardAll(ctx, pair.Masters, key, e, pair.Epoch)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("write to master %s: %w", pair.Masters[i], err)
		}
	}
	return nil
}
