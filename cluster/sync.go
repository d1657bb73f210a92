package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/store"
)

// syncLoop keeps this node's durable store right for its role: a master
// copies what it lacks from the other master; a node that is not master
// hands what it holds durably to the masters (demote). It also runs the
// janitor. It runs whenever kicked, retries what failed, and purges every
// JanitorInterval.
//
// Retries: a failed sync is tried again after a heartbeat interval. A
// demotion that is not done backs off instead: one heartbeat interval,
// doubling up to demoteRetryMax intervals, counted apart for attempts
// that found the new masters not synced (cheap: nothing is asked of them;
// a master heard synced, or a new pair, kicks the next attempt at once)
// and for attempts that read the masters' versions and could not verify
// every entry (each costs every master a dump; while one backs off, only
// a new pair starts the next attempt early). Either count starts again
// with a new pair. Every attempt that does not finish logs one line with
// its counts.
func (n *Node) syncLoop() {
	var (
		retry <-chan time.Time
		dr    demoteRetry
	)
	janitor := time.NewTicker(n.cfg.JanitorInterval)
	defer janitor.Stop()
	check := time.NewTicker(jitter(n.cfg.CheckInterval))
	defer check.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-janitor.C:
			if k := n.purge(); k > 0 {
				n.log.Info("purged expired entries and old tombstones", "removed", k)
			}
			continue
		case <-check.C:
			if err := n.checkPartners(); err != nil {
				n.log.Warn("comparing with the other master failed", "err", err)
			}
			continue
		case <-n.syncKick:
			if retry != nil && dr.backingOff(n.view.Load(), n.self) {
				continue // a demotion backing off: its timer runs it
			}
		case <-retry:
		}
		retry = nil
		err := n.syncOnce()
		if pair := n.view.Load().pair; err == nil || !pair.Equal(dr.pair) {
			dr = demoteRetry{pair: pair}
		}
		var incomplete *demoteIncomplete
		switch {
		case err == nil:
		case errors.As(err, &incomplete):
			dr.failures++
			d := jitter(demoteBackoff(n.cfg.HeartbeatInterval, dr.failures))
			n.log.Warn("not a master: durable copy kept, entries not yet on every master; will retry",
				append(incomplete.logAttrs(), "attempt", dr.failures, "retry_in", d.Round(time.Millisecond).String())...)
			retry = time.After(d)
		case errors.Is(err, errPairNotSynced):
			dr.waits++
			dr.synced = n.view.Load().syncedMasters(n.self)
			d := jitter(demoteBackoff(n.cfg.HeartbeatInterval, dr.waits))
			n.log.Info("not a master: durable copy kept until the new masters are synced",
				"reason", err.Error(), "keys", n.durable.Len(), "attempt", dr.waits, "retry_in", d.Round(time.Millisecond).String())
			retry = time.After(d)
		default:
			dr = demoteRetry{pair: dr.pair}
			n.stats.SyncFailures.Add(1)
			n.log.Warn("sync failed, will retry", "err", err)
			retry = time.After(jitter(n.cfg.HeartbeatInterval))
		}
	}
}

// demoteRetry is what the sync loop counts of a demotion not yet done.
type demoteRetry struct {
	pair     election.Pair // the pair the counts are for
	waits    int           // attempts in a row that found the masters not synced
	failures int           // attempts in a row that could not verify every entry
	synced   []netip.Addr  // the masters heard synced at the last wait
}

// backingOff reports whether a kick of the sync loop should leave a
// demotion to its retry timer, given the view now: yes while the pair is
// the same and, for a demotion waiting for the masters to be synced, no
// other master has been heard synced since. Every write a node that is
// not master takes kicks the loop; without this, each would be one more
// attempt and one more log line.
func (dr demoteRetry) backingOff(v *view, self netip.Addr) bool {
	if !v.pair.Equal(dr.pair) {
		return false // a new pair starts again at once
	}
	switch {
	case dr.failures > 0:
		return true
	case dr.waits > 0:
		return slices.Equal(v.syncedMasters(self), dr.synced)
	}
	return false
}

// demoteRetryMax bounds a demotion's backoff, in heartbeat intervals
// (10 s at the default interval).
const demoteRetryMax = 20

// demoteBackoff is the wait before a demotion's next attempt after
// attempts attempts in a row that did not finish: hb, doubling, at most
// demoteRetryMax*hb.
func demoteBackoff(hb time.Duration, attempts int) time.Duration {
	d := hb
	for i := 1; i < attempts && d < demoteRetryMax*hb; i++ {
		d *= 2
	}
	return min(d, demoteRetryMax*hb)
}

// syncOnce does what the node's current role needs.
func (n *Node) syncOnce() error {
	pair := n.view.Load().pair
	if !pair.Has(n.self) {
		if n.leaving.Load() {
			return nil // keep the data dir as it is for the next start
		}
		return n.demote()
	}
	if err := n.promote(); err != nil {
		return err
	}
	start := n.now()
	total := 0
	for _, m := range pair.Masters {
		if m == n.self {
			continue
		}
		read, applied, err := n.syncFrom(m)
		if err != nil {
			return fmt.Errorf("sync from %s: %w", m, err)
		}
		total += applied
		n.log.Info("synced", "from", m.String(), "entries", read, "applied", applied)
	}
	current, first := n.markSynced(pair)
	if !current {
		n.kickSync() // the pair changed meanwhile: sync against the new one
		return nil
	}
	n.stats.Syncs.Add(1)
	n.stats.SyncNanos.Add(int64(n.now().Sub(start)))
	if first {
		n.log.Info("master holds every key", "epoch", pair.Epoch, "applied", total,
			"took", n.now().Sub(start).Round(time.Millisecond).String())
	}
	return nil
}

// syncFrom applies every entry of master m's dump that is newer than what
// this node holds.
func (n *Node) syncFrom(m netip.Addr) (read, applied int, err error) {
	body, cancel, err := n.openDump(m, true)
	if err != nil {
		return 0, 0, err
	}
	defer cancel()
	defer body.Close()

	// Entries go to the store in batches of one transaction each, from a
	// few goroutines, so reading the dump overlaps with committing.
	batches := make(chan []store.KeyEntry, syncWriters)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards firstErr
		firstErr error
		done     atomic.Int64
		skewed   int // entries refused: too far ahead of this node's clock
	)
	for range syncWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				k, err := n.durable.PutMany(b)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel() // stop reading the dump
					continue
				}
				done.Add(int64(k))
			}
		}()
	}
	batch, size := make([]store.KeyEntry, 0, syncBatch), 0
	err = readDump(body, n.cfg.MaxValueSize, func(d dumpEntry) error {
		read++
		if err := n.clock.Observe(d.entry.Version); err != nil {
			skewed++ // from the future: it would freeze the key everywhere
			return nil
		}
		batch = append(batch, store.KeyEntry{Key: d.key, Entry: d.entry})
		size += len(d.key) + len(d.entry.Value)
		if len(batch) == syncBatch || size >= syncBatchBytes {
			batches <- batch
			batch, size = make([]store.KeyEntry, 0, syncBatch), 0
		}
		return nil
	})
	if len(batch) > 0 && err == nil {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	if firstErr != nil {
		err = firstErr
	}
	if skewed > 0 {
		n.log.Warn("dump entries too far ahead of this node's clock: not copied", "from", m.String(), "entries", skewed)
	}
	return read, int(done.Load()), err
}

// A sync applies a dump in batches of syncBatch entries or syncBatchBytes,
// from syncWriters goroutines.
const (
	syncBatch      = 1024
	syncBatchBytes = 4 << 20
	syncWriters    = 4
)

// openDump streams m's dump. The caller calls cancel when done; Close of
// the node ends the stream too, and so does a stream that brings nothing
// for Config.DumpIdleTimeout (a master that hangs half way).
func (n *Node) openDump(m netip.Addr, values bool) (io.ReadCloser, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(n.ctx)
	body, err := n.peers.Dump(ctx, n.peer(m), values)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	idle := n.cfg.DumpIdleTimeout
	return &idleReader{r: body, idle: idle, timer: time.AfterFunc(idle, cancel)}, cancel, nil
}

// idleReader cuts a stream (its timer cancels the request) when a read
// waits longer than idle.
type idleReader struct {
	r     io.ReadCloser
	idle  time.Duration
	timer *time.Timer
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.timer.Reset(r.idle)
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	return r.r.Close()
}
