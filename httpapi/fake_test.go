package httpapi_test

import (
	"context"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/store"
)

var _ httpapi.Node = (*fakeNode)(nil)

// putCall records one call of Write, Apply or Replicate.
type putCall struct {
	Key     string
	Value   []byte
	Version store.Version // Apply and Replicate only
	Write   cluster.Write // Write only: delete, TTL, condition
	Expires int64         // Apply and Replicate only
	Cond    cluster.Condition
	Epoch   uint64 // Replicate only
}

// fakeNode is an in-memory httpapi.Node: a map of entries, errors to
// return from Put and Get, and a record of the calls it took. It is safe
// for concurrent use, so tests can run it behind an httptest.Server.
type fakeNode struct {
	mu sync.Mutex // guards every field below

	entries map[string]store.Entry
	clock   uint64 // last version clock handed out

	masters []netip.Addr   // what Put reports as holding the write
	source  cluster.Source // what Get reports for a present key; "" means local
	ready   bool
	status  cluster.Status

	// existenceUnknown: deletes report that no master could tell whether
	// the key existed.
	existenceUnknown bool

	putErr error // returned by Put when set
	getErr error // returned by Get when set
	// putHook, when set, runs inside Put before anything else; a non-nil
	// error is returned. It lets a test block until ctx ends.
	putHook func(ctx context.Context) error
	// dumpHook, when set, writes the dump instead (set before serving).
	dumpHook func(w io.Writer) error
	// listHook, when set, runs instead of ListKeys' walk of entries.
	listHook func(fn func(keys []string) error) error
	// backup is what WriteBackup writes; backupErr, when set, is
	// returned before it writes.
	backup    []byte
	backupErr error
	// restoreHook, when set, runs instead of Restore's reading of the
	// stream.
	restoreHook func(ctx context.Context, r io.Reader) (api.RestoreResult, error)

	listAfter []string // the after of every ListKeysAfter

	puts      []putCall
	putLocals []putCall
	gets      []string
	getLocals []string
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		entries: make(map[string]store.Entry),
		masters: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")},
		ready:   true,
		status: cluster.Status{Status: api.Status{
			Addr:    "10.0.0.3",
			Masters: []string{"10.0.0.1", "10.0.0.2"},
			Epoch:   7,
			Ready:   true,
			Members: []cluster.MemberStatus{
				{Addr: "10.0.0.1", Keys: 3, Master: true, Synced: true},
				{Addr: "10.0.0.2", Keys: 3, Master: true},
				{Addr: "10.0.0.3", Keys: 1},
			},
		}},
	}
}

// set stores an entry directly, as if it had been written before.
func (f *fakeNode) set(key string, value []byte, v store.Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[key] = store.Entry{Value: slices.Clone(value), Version: v}
}

func (f *fakeNode) entry(key string) (store.Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[key]
	return e, ok
}

func (f *fakeNode) setPutErr(err error) {
	f.mu.Lock()
	f.putErr = err
	f.mu.Unlock()
}

func (f *fakeNode) setGetErr(err error) {
	f.mu.Lock()
	f.getErr = err
	f.mu.Unlock()
}

func (f *fakeNode) setSource(src cluster.Source) {
	f.mu.Lock()
	f.source = src
	f.mu.Unlock()
}

func (f *fakeNode) setReady(ready bool) {
	f.mu.Lock()
	f.ready = ready
	f.mu.Unlock()
}

func (f *fakeNode) setPutHook(h func(ctx context.Context) error) {
	f.mu.Lock()
	f.putHook = h
	f.mu.Unlock()
}

func (f *fakeNode) putCalls() []putCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}

func (f *fakeNode) putLocalCalls() []putCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.putLocals)
}

func (f *fakeNode) getCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gets)
}

func (f *fakeNode) getLocalCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.getLocals)
}

// nextLocked hands out a new version. f.mu must be held.
func (f *fakeNode) nextLocked() store.Version {
	f.clock++
	return store.Version{Clock: f.clock<<16 | 0x1234, Node: 0x0a000003}
}

func (f *fakeNode) Write(ctx context.Context, key string, w cluster.Write) (cluster.WriteResult, error) {
	value := w.Value
	f.mu.Lock()
	hook := f.putHook
	f.puts = append(f.puts, putCall{Key: key, Value: slices.Clone(value), Write: w})
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return cluster.WriteResult{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return cluster.WriteResult{}, f.putErr
	}
	e := store.Entry{Value: slices.Clone(value), Version: f.nextLocked(), Deleted: w.Delete}
	existed := cluster.ExistenceUnknown
	if w.Delete {
		existed = cluster.KeyAbsent
		if _, ok := f.entries[key]; ok {
			existed = cluster.KeyExisted
		}
		if f.existenceUnknown {
			existed = cluster.ExistenceUnknown
		}
		delete(f.entries, key)
	} else {
		f.entries[key] = e
	}
	return cluster.WriteResult{Entry: e, Masters: slices.Clone(f.masters), Existed: existed}, nil
}

func (f *fakeNode) StoreLocal(_ context.Context, _ netip.Addr, key string, e store.Entry) (store.Entry, error) {
	return f.local(key, e, cluster.Condition{}, 0)
}

func (f *fakeNode) Decide(key string, e store.Entry, cond cluster.Condition) (store.Entry, error) {
	return f.local(key, e, cond, 0)
}

func (f *fakeNode) Replicate(key string, e store.Entry, epoch uint64) (store.Entry, error) {
	return f.local(key, e, cluster.Condition{}, epoch)
}

func (f *fakeNode) ReplicateBatch(rs []cluster.Replica) ([]store.Entry, []error) {
	held, errs := make([]store.Entry, len(rs)), make([]error, len(rs))
	for i, r := range rs {
		held[i], errs[i] = f.local(r.Key, r.Entry, cluster.Condition{}, r.Epoch)
	}
	return held, errs
}

func (f *fakeNode) local(key string, e store.Entry, cond cluster.Condition, epoch uint64) (store.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.putLocals = append(f.putLocals, putCall{Key: key, Value: slices.Clone(e.Value), Version: e.Version,
		Expires: e.Expires, Cond: cond, Epoch: epoch})
	if f.putErr != nil {
		return store.Entry{}, f.putErr
	}
	if e.Version.IsZero() {
		e.Version = f.nextLocked()
	}
	e.Value = slices.Clone(e.Value)
	if e.Deleted {
		delete(f.entries, key)
	} else {
		f.entries[key] = e
	}
	return e, nil
}

func (f *fakeNode) Get(_ context.Context, key string) (store.Entry, cluster.Source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, key)
	if f.getErr != nil {
		return store.Entry{}, "", f.getErr
	}
	e, ok := f.entries[key]
	if !ok {
		return store.Entry{}, "", cluster.ErrNotFound
	}
	src := f.source
	if src == "" {
		src = cluster.SourceLocal
	}
	return e, src, nil
}

func (f *fakeNode) GetLocal(key string) (store.Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getLocals = append(f.getLocals, key)
	e, ok := f.entries[key]
	return e, ok
}

// fakeListChunk is how many keys the fake's ListKeys hands over at once:
// small, so that a few keys make several chunks.
const fakeListChunk = 2

// ListKeysAfter lists the keys of the entries after the key after,
// sorted, in chunks of fakeListChunk; listHook, when set, lists instead.
func (f *fakeNode) ListKeysAfter(after string, fn func(keys []string) error) error {
	f.mu.Lock()
	hook := f.listHook
	keys := slices.Sorted(maps.Keys(f.entries))
	f.listAfter = append(f.listAfter, after)
	f.mu.Unlock()
	if hook != nil {
		return hook(fn)
	}
	i, found := slices.BinarySearch(keys, after)
	if found {
		i++
	}
	keys = keys[i:]
	for chunk := range slices.Chunk(keys, fakeListChunk) {
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeNode) setListHook(h func(fn func(keys []string) error) error) {
	f.mu.Lock()
	f.listHook = h
	f.mu.Unlock()
}

// WriteDump writes "dump\n", or "dump without values\n".
func (f *fakeNode) WriteDump(w io.Writer, values bool) error {
	if f.dumpHook != nil {
		return f.dumpHook(w)
	}
	if !values {
		_, err := io.WriteString(w, "dump without values\n")
		return err
	}
	_, err := io.WriteString(w, "dump\n")
	return err
}

// WriteBackup writes f.backup, or fails with f.backupErr.
func (f *fakeNode) WriteBackup(w io.Writer, begin func(size int64)) error {
	f.mu.Lock()
	data, err := f.backup, f.backupErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if begin != nil {
		begin(int64(len(data)))
	}
	_, err = w.Write(data)
	return err
}

// Restore reads the stream with store.ReadDump and stores each entry
// that is newer than what it holds, as a master does.
func (f *fakeNode) Restore(ctx context.Context, r io.Reader) (api.RestoreResult, error) {
	f.mu.Lock()
	hook := f.restoreHook
	f.mu.Unlock()
	if hook != nil {
		return hook(ctx, r)
	}
	res := api.RestoreResult{Node: "10.0.0.3"}
	err := store.ReadDump(r, 1<<20, func(key string, e store.Entry, _ bool) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		res.Read++
		if held, ok := f.entries[key]; ok && !e.Version.Newer(held.Version) {
			res.Older++
			return nil
		}
		f.entries[key] = e
		res.Applied++
		return nil
	})
	return res, err
}

func (f *fakeNode) Status() cluster.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.status
	s.Ready = f.ready
	s.Keys = len(f.entries)
	s.Counters.LocalHits = uint64(len(f.gets))
	return s
}

func (f *fakeNode) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeNode) Digest() cluster.Digest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cluster.Digest{Entries: len(f.entries), SHA256: "fake"}
}
