package cluster

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/store"
)

// The dump format streams every entry a node holds durably, tombstones
// included:
//
//	diststore-dump 2\n
//	<key> <version> <flags> <expires> <length>\n<value>\n   (once per entry)
//	end\n
//
// flags is 1 for a tombstone; expires is Unix milliseconds, 0 for never.
// A dump without values (for a node checking its copies) has length 0 and
// flag 2 on every live entry. Keys hold no whitespace, so the header line
// splits on spaces; the closing "end" tells a complete dump from a cut one.
const (
	dumpMagic   = "diststore-dump 2"
	dumpEnd     = "end"
	dumpDeleted = 1
	dumpNoValue = 2
)

// ErrBadDump is returned when a dump stream is malformed or cut short.
var ErrBadDump = errors.New("malformed dump")

// WriteDump writes every entry this node holds to w, durably or in its
// cache (the latter only while a new master moves them); without values
// when values is false.
func (n *Node) WriteDump(w io.Writer, values bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := fmt.Fprintf(bw, "%s\n", dumpMagic); err != nil {
		return err
	}
	var werr error
	now := n.nowMs()
	n.durable.Range(func(key string, e store.Entry) bool {
		if !e.Deleted && !e.Live(now) {
			return true // expired: nobody may read it any more
		}
		werr = writeDumpEntry(bw, key, e, values)
		return werr == nil
	})
	if werr != nil {
		return werr
	}
	// Copies still in the cache: a new master is moving them into its
	// durable store; a partner syncing meanwhile must not miss them.
	for key, e := range n.cache.snapshot() {
		if err := writeDumpEntry(bw, key, e, values); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(bw, "%s\n", dumpEnd); err != nil {
		return err
	}
	return bw.Flush()
}

// writeDumpEntry writes one entry in the dump format.
func writeDumpEntry(bw *bufio.Writer, key string, e store.Entry, values bool) error {
	flags, value := 0, e.Value
	if e.Deleted {
		flags, value = dumpDeleted, nil
	} else if !values {
		flags, value = dumpNoValue, nil
	}
	if _, err := fmt.Fprintf(bw, "%s %s %d %d %d\n", key, e.Version, flags, e.Expires, len(value)); err != nil {
		return err
	}
	if _, err := bw.Write(value); err != nil {
		return err
	}
	return bw.WriteByte('\n')
}

// dumpEntry is one entry read from a dump.
type dumpEntry struct {
	key     string
	entry   store.Entry
	noValue bool
}

// readDump calls fn for every entry of a dump, in order.
func readDump(r io.Reader, maxValue int64, fn func(dumpEntry) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	line := func() (string, error) {
		b, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: cut short", ErrBadDump)
			}
			return "", fmt.Errorf("%w: %v", ErrBadDump, err)
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	head, err := line()
	if err != nil {
		return err
	}
	if head != dumpMagic {
		return fmt.Errorf("%w: header %.40q", ErrBadDump, head)
	}
	for {
		h, err := line()
		if err != nil {
			return err
		}
		if h == dumpEnd {
			return nil
		}
		d, size, err := parseDumpHeader(h, maxValue)
		if err != nil {
			return err
		}
		value := make([]byte, size+1)
		if _, err := io.ReadFull(br, value); err != nil || value[size] != '\n' {
			return fmt.Errorf("%w: value of %q cut short", ErrBadDump, d.key)
		}
		if size > 0 {
			d.entry.Value = value[:size]
		}
		if err := fn(d); err != nil {
			return err
		}
	}
}

func parseDumpHeader(h string, maxValue int64) (dumpEntry, int64, error) {
	f := strings.Split(h, " ")
	if len(f) != 5 || store.CheckKey(f[0]) != nil {
		return dumpEntry{}, 0, fmt.Errorf("%w: entry header %.80q", ErrBadDump, h)
	}
	v, err := store.ParseVersion(f[1])
	if err != nil {
		return dumpEntry{}, 0, fmt.Errorf("%w: %v", ErrBadDump, err)
	}
	flags, err1 := strconv.ParseUint(f[2], 10, 8)
	expires, err2 := strconv.ParseInt(f[3], 10, 64)
	size, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || flags > dumpDeleted|dumpNoValue || size < 0 || size > maxValue {
		return dumpEntry{}, 0, fmt.Errorf("%w: entry header %.80q", ErrBadDump, h)
	}
	d := dumpEntry{
		key:     f[0],
		entry:   store.Entry{Version: v, Deleted: flags&dumpDeleted != 0, Expires: expires},
		noValue: flags&dumpNoValue != 0,
	}
	if d.entry.Deleted && size != 0 {
		return dumpEntry{}, 0, fmt.Errorf("%w: tombstone with a value: %.80q", ErrBadDump, h)
	}
	return d, size, nil
}

// syncLoop keeps this node's durable store right for its role: a master
// copies what it lacks from the other master; a node that is not master
// turns what it holds durably into checked cache entries. It also runs
// the janitor. It runs whenever kicked, retries what failed, and purges
// every JanitorInterval.
func (n *Node) syncLoop() {
	var retry <-chan time.Time
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
		case <-retry:
		}
		retry = nil
		if err := n.syncOnce(); err != nil {
			n.log.Warn("sync failed, will retry", "err", err)
			retry = time.After(jitter(n.cfg.HeartbeatInterval))
		}
	}
}

// checkPartners compares, on a synced master, a digest of this node's data
// with each other master's, and copies from a master whose digest differs
// what this node lacks or holds older. Both masters do this, so a write
// that reached only one of them (its client gave up half way) ends up on
// both.
func (n *Node) checkPartners() error {
	v := n.view.Load()
	pair, synced := v.pair, v.authoritative(n.self)
	if !synced || n.leaving.Load() {
		return nil
	}
	mine := n.Digest()
	for _, m := range pair.Masters {
		if m == n.self {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		theirs, err := n.peers.digest(ctx, m, n.cfg.HTTPPort)
		cancel()
		if err != nil {
			return fmt.Errorf("digest of %s: %w", m, err)
		}
		if theirs == mine {
			continue
		}
		read, applied, err := n.syncFrom(m)
		if err != nil {
			return fmt.Errorf("sync from %s: %w", m, err)
		}
		if applied > 0 {
			n.log.Warn("masters differed: copied what this one lacked", "from", m.String(), "entries", read, "applied", applied)
		}
	}
	return nil
}

// errNoSyncedMaster: there is no synced master to check against yet.
var errNoSyncedMaster = errors.New("no synced master yet")

// syncOnce does what the node's current role needs.
func (n *Node) syncOnce() error {
	pair := n.view.Load().pair
	if !pair.Has(n.self) {
		if n.leaving.Load() {
			return nil // keep the data dir as it is for the next start
		}
		return n.demote(pair)
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

// pushToMasters writes e to every master of pair, as a writer forwards.
func (n *Node) pushToMasters(pair election.Pair, key string, e store.Entry) error {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	for i, err := range n.forwardAll(ctx, pair.Masters, key, e, pair.Epoch) {
		if err != nil {
			return fmt.Errorf("write to master %s: %w", pair.Masters[i], err)
		}
	}
	return nil
}

// openDump streams m's dump. The caller calls cancel when done; Close of
// the node ends the stream too, and so does a stream that brings nothing
// for dumpIdleTimeout (a master that hangs half way).
func (n *Node) openDump(m netip.Addr, values bool) (io.ReadCloser, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(n.ctx)
	body, err := n.peers.dump(ctx, m, n.cfg.HTTPPort, values)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return &idleReader{r: body, idle: dumpIdleTimeout, timer: time.AfterFunc(dumpIdleTimeout, cancel)}, cancel, nil
}

// writeBackConcurrency bounds the writes a demoted node sends to the
// masters at once when it writes back what they lack.
const writeBackConcurrency = 16

// dumpIdleTimeout is how long a dump may bring no bytes before it is cut.
const dumpIdleTimeout = 15 * time.Second

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

// Digest summarises what this node holds durably: how many entries
// (tombstones included, expired entries not) and a SHA-256 over every key,
// version, tombstone flag, expiry and value, in key order. Two masters that
// hold the same data have the same digest. Computing it reads every entry,
// which is why masters compare digests only every CheckInterval.
type Digest struct {
	Entries int    `json:"entries"`
	SHA256  string `json:"sha256"`
}

// Digest computes the node's Digest. It reads every entry: O(n).
func (n *Node) Digest() Digest {
	h := sha256.New()
	var d Digest
	var lenBuf [8]byte
	now := n.nowMs()
	n.durable.Range(func(k string, e store.Entry) bool {
		if !e.Deleted && !e.Live(now) {
			return true
		}
		d.Entries++
		fmt.Fprintf(h, "%s %s %t %d ", k, e.Version, e.Deleted, e.Expires)
		binary.BigEndian.PutUint64(lenBuf[:], uint64(len(e.Value)))
		h.Write(lenBuf[:])
		h.Write(e.Value)
		return true
	})
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d
}
