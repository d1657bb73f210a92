package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrLocked is returned by OpenBolt when another process (or another
	// OpenBolt in this one) holds the data file.
	ErrLocked = errors.New("data dir is in use by another process")
	// ErrCorrupt is returned for a file that is not a bbolt file, a bbolt
	// file without the diststore format marker or with an unknown format,
	// and a record that cannot be decoded.
	ErrCorrupt = errors.New("data file is corrupt or not a diststore store")
)

// On-disk format. Bump formatVersion for any incompatible change; OpenBolt
// refuses a version it does not know.
const (
	formatMagic   = "diststore-store"
	formatVersion = 1

	// recordHeader is the size of an encoded Entry without its value:
	// version clock u64, version node u32, flags u8, expires i64, all
	// big-endian, then the value.
	recordHeader = 8 + 4 + 1 + 8
	flagDeleted  = 1 << 0
	knownFlags   = flagDeleted

	// rangeChunk is how many records Range and RangeKeys read in one read
	// transaction, and the most keys RangeKeys hands over at once. A
	// long-lived read transaction would keep bbolt from remapping a
	// growing file and so block writers.
	rangeChunk = 512
	// rangeChunkBytes bounds the keys and values Range copies out of one
	// read transaction: it stops at the first record that takes a chunk
	// past it. A reader that stalls (a /dump nobody reads) pins one chunk;
	// 512 records of large values would be hundreds of MiB.
	rangeChunkBytes = 1 << 20

	defaultLockTimeout = time.Second
)

var (
	bucketEntries = []byte("entries")
	bucketMeta    = []byte("meta")
	keyFormat     = []byte("format")
)

// formatMarker is the value of keyFormat in bucketMeta.
func formatMarker() []byte {
	return binary.BigEndian.AppendUint32([]byte(formatMagic), formatVersion)
}

// BoltOptions configures OpenBolt. The zero value is durable with defaults.
type BoltOptions struct {
	// NoSync turns durability off: commits are not fsynced, so a crash of
	// the machine (not just the process) may lose recent writes. For
	// benchmarks and caches. Default false.
	NoSync bool
	// LockTimeout is how long OpenBolt waits for the file lock held by
	// another process before failing with ErrLocked. 0 means 1s.
	LockTimeout time.Duration
}

var _ Store = (*Bolt)(nil)

// Bolt is a Store in a bbolt file. A Put or Delete that returns nil has
// been fsynced (unless BoltOptions.NoSync); concurrent writers share
// transactions and fsyncs (see write).
//
// Get and Range have no error result: after Close, or on a record
// that cannot be decoded (OpenBolt checks every record, so only damage
// done while open), an entry reads as absent.
type Bolt struct {
	db   *bolt.DB
	path string

	live atomic.Int64 // entries that are not tombstones

	commitMu   sync.Mutex      // guards queue and committing
	queue      []*pendingWrite // writes waiting for the next commit
	committing bool            // a leader is committing; writes queue up

	closeOnce sync.Once
	closeErr  error
}

// OpenBolt opens the store at path, creating it if it does not exist or is
// an empty file. It fails with ErrLocked if another process holds the file
// for longer than opts.LockTimeout, and with ErrCorrupt if the file is not
// a diststore store or any record in it is damaged.
func OpenBolt(path string, opts BoltOptions) (s *Bolt, err error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = defaultLockTimeout
	}
	// bbolt trusts the file: a damaged one may make it panic or fault on
	// the mmap. Turn both into ErrCorrupt while opening and checking, and
	// remember the file so that its lock is released even if bolt.Open
	// itself panics.
	var file *os.File
	var db *bolt.DB
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if db != nil {
			closeQuietly(db)
		} else if file != nil {
			releaseFile(file) // leaks bbolt's mapping of a corrupt file
		}
		s, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, p)
	}()

	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		NoSync:  opts.NoSync,
		// No one reads bbolt's statistics, and they cost every read
		// transaction a lock of its own.
		NoStatistics: true,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		return nil, openError(path, err)
	}
	s = &Bolt{db: db, path: path}
	if err := s.init(); err != nil {
		closeQuietly(db)
		return nil, err
	}
	return s, nil
}

// openError classifies an error of bolt.Open.
func openError(path string, err error) error {
	var pe *os.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.As(err, &pe):
		// The file could not be opened, stat'ed or mapped: not its content.
		return fmt.Errorf("open store: %w", err)
	default:
		// ErrInvalid, ErrChecksum, ErrVersionMismatch, "file size too
		// small" and the like: bbolt did not recognise the file.
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
}

// closeQuietly closes a db that failed its checks; it may be damaged
// enough to panic again.
func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// init creates the buckets of a new store, or checks the format marker and
// every record of an existing one and counts its live entries.
func (s *Bolt) init() error {
	fresh := false
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			n := 0
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
			if n > 0 {
				return fmt.Errorf("%w: %s: a bbolt file without a diststore format marker", ErrCorrupt, s.path)
			}
			fresh = true
			return nil
		}
		if got := meta.Get(keyFormat); !bytes.Equal(got, formatMarker()) {
			return fmt.Errorf("%w: %s: unknown format marker %q", ErrCorrupt, s.path, got)
		}
		entries := tx.Bucket(bucketEntries)
		if entries == nil {
			return fmt.Errorf("%w: %s: no entries bucket", ErrCorrupt, s.path)
		}
		var live int64
		err := entries.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("%w: %s: unexpected bucket %q", ErrCorrupt, s.path, k)
			}
			deleted, err := recordDeleted(v)
			if err != nil {
				return fmt.Errorf("%s: key %q: %w", s.path, k, err)
			}
			if !deleted {
				live++
			}
			return nil
		})
		s.live.Store(live)
		return err
	})
	if err != nil || !fresh {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, formatMarker()); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketEntries)
		return err
	})
}

// encodeEntry returns the record of e.
func encodeEntry(e Entry) []byte {
	b := make([]byte, recordHeader, recordHeader+len(e.Value))
	binary.BigEndian.PutUint64(b[0:], e.Version.Clock)
	binary.BigEndian.PutUint32(b[8:], e.Version.Node)
	if e.Deleted {
		b[12] = flagDeleted
	}
	binary.BigEndian.PutUint64(b[13:], uint64(e.Expires))
	return append(b, e.Value...)
}

// decodeEntry parses a record. The Value is copied, so the result outlives
// the transaction b belongs to.
func decodeEntry(b []byte) (Entry, error) {
	if _, err := recordDeleted(b); err != nil {
		return Entry{}, err
	}
	e := Entry{
		Version: Version{
			Clock: binary.BigEndian.Uint64(b[0:]),
			Node:  binary.BigEndian.Uint32(b[8:]),
		},
		Deleted: b[12]&flagDeleted != 0,
		Expires: int64(binary.BigEndian.Uint64(b[13:])),
	}
	if v := b[recordHeader:]; len(v) > 0 || !e.Deleted {
		e.Value = bytes.Clone(v)
		if e.Value == nil {
			e.Value = []byte{}
		}
	}
	return e, nil
}

// recordDeleted validates the header of a record and reports whether it is
// a tombstone.
func recordDeleted(b []byte) (bool, error) {
	if len(b) < recordHeader {
		return false, fmt.Errorf("%w: record of %d bytes, want at least %d", ErrCorrupt, len(b), recordHeader)
	}
	if f := b[12]; f&^knownFlags != 0 {
		return false, fmt.Errorf("%w: unknown record flags %#x", ErrCorrupt, f)
	}
	return b[12]&flagDeleted != 0, nil
}

// recordLive validates the header of a record and reports whether its
// entry is live at nowMs (Entry.Live), without reading the value.
func recordLive(b []byte, nowMs int64) (bool, error) {
	deleted, err := recordDeleted(b)
	if err != nil || deleted {
		return false, err
	}
	return Entry{Expires: int64(binary.BigEndian.Uint64(b[13:]))}.Live(nowMs), nil
}

// recordVersion returns the version of a record that decodeEntry accepts.
func recordVersion(b []byte) Version {
	return Version{Clock: binary.BigEndian.Uint64(b[0:]), Node: binary.BigEndian.Uint32(b[8:])}
}

// Get implements Store.
func (s *Bolt) Get(key string) (Entry, bool) {
	var e Entry
	var ok bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		e, err = decodeEntry(v)
		ok = err == nil
		return nil
	})
	return e, ok
}

// write runs fn in a write transaction that is committed and fsynced
// before write returns. fn may run more than once and must reset its
// results on each run.
//
// Group commit: writes queue up; whoever finds no commit in progress
// becomes the leader and commits everything queued in one transaction and
// one fsync, then hands leadership to the first write queued meanwhile. A
// lone writer commits at once, and under load a batch holds whatever
// arrived during the previous fsync, with no timer.
func (s *Bolt) write(fn func(*bolt.Tx) error) error {
	w := &pendingWrite{fn: fn, done: make(chan bool, 1)}
	s.commitMu.Lock()
	s.queue = append(s.queue, w)
	lead := !s.committing
	s.committing = true
	s.commitMu.Unlock()
	if !lead && !<-w.done {
		return w.err // committed by another leader
	}
	// Lead: commit everything queued, including w.
	s.commitMu.Lock()
	batch := s.queue
	s.queue = nil
	s.commitMu.Unlock()

	s.commit(batch)

	s.commitMu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].done <- true // hand over; committing stays set
	} else {
		s.committing = false
	}
	s.commitMu.Unlock()
	for _, p := range batch {
		if p != w {
			p.done <- false
		}
	}
	return w.err
}

// pendingWrite is a write waiting in the group-commit queue.
type pendingWrite struct {
	fn   func(*bolt.Tx) error
	err  error     // set by the leader before done
	done chan bool // receives true to lead the next batch, false when committed
}

// commit runs batch in one transaction and sets each write's err. A write
// whose fn fails is taken out with that error and the rest run again.
func (s *Bolt) commit(batch []*pendingWrite) {
	for len(batch) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, p := range batch {
				if err := callSafely(p.fn, tx); err != nil {
					failed = i
					p.err = err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, p := range batch {
				p.err = err
			}
			return
		}
		batch = slices.Delete(slices.Clone(batch), failed, failed+1)
	}
}

// callSafely calls fn, turning a panic into an error so that one write
// cannot strand the others waiting on its batch.
func callSafely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write: %v", p)
		}
	}()
	return fn(tx)
}

// Put implements Store. A Put that is not newer than the held entry is
// answered from a read transaction without writing.
func (s *Bolt) Put(key string, e Entry) (Entry, bool, error) {
	if cur, ok := s.Get(key); ok && !e.Version.Newer(cur.Version) {
		return cur, false, nil
	}
	k, rec := []byte(key), encodeEntry(e)
	var (
		held    Entry
		applied bool
		delta   int64
	)
	err := s.write(func(tx *bolt.Tx) error {
		held, applied, delta = Entry{}, false, 0
		b := tx.Bucket(bucketEntries)
		if v := b.Get(k); v != nil {
			cur, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if !e.Version.Newer(cur.Version) {
				held = cur
				return nil
			}
			if !cur.Deleted {
				delta--
			}
		}
		if err := b.Put(k, rec); err != nil {
			return err
		}
		if !e.Deleted {
			delta++
		}
		held, applied = e, true
		return nil
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("put %q: %w", key, err)
	}
	s.live.Add(delta)
	return held, applied, nil
}

// Delete implements Store.
func (s *Bolt) Delete(key string, ifVersion Version) (bool, error) {
	if cur, ok := s.Get(key); !ok || cur.Version != ifVersion {
		return false, nil
	}
	k := []byte(key)
	var (
		removed bool
		delta   int64
	)
	err := s.write(func(tx *bolt.Tx) error {
		removed, delta = false, 0
		b := tx.Bucket(bucketEntries)
		v := b.Get(k)
		if v == nil {
			return nil
		}
		deleted, err := recordDeleted(v)
		if err != nil {
			return err
		}
		if recordVersion(v) != ifVersion {
			return nil
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		if !deleted {
			delta = -1
		}
		removed = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("delete %q: %w", key, err)
	}
	s.live.Add(delta)
	return removed, nil
}

// Len implements Store.
func (s *Bolt) Len() int { return int(s.live.Load()) }

type keyEntry struct {
	key string
	e   Entry
}

// errStop ends a scan whose caller wants no more.
var errStop = errors.New("stop")

// Range implements Store. It copies up to rangeChunk entries, and about
// rangeChunkBytes of keys and values, at a time out of a short read
// transaction and calls fn outside of it.
func (s *Bolt) Range(fn func(string, Entry) bool) {
	chunk := make([]keyEntry, 0, rangeChunk)
	size := 0
	_ = s.scan("", func(k, v []byte) bool {
		if e, err := decodeEntry(v); err == nil {
			chunk = append(chunk, keyEntry{string(k), e})
			size += len(k) + len(e.Value)
		}
		return size < rangeChunkBytes
	}, func() error {
		for _, ke := range chunk {
			if !fn(ke.key, ke.e) {
				return errStop
			}
		}
		clear(chunk) // let the values go
		chunk, size = chunk[:0], 0
		return nil
	})
}

// RangeKeys implements Store. Each chunk is read in its own short read
// transaction that decodes only the records' headers and copies only
// their keys; a record that cannot be decoded reads as absent, as in Get.
// The error of a read transaction (after Close) is returned.
func (s *Bolt) RangeKeys(after string, nowMs int64, fn func([]string) error) error {
	keys := make([]string, 0, rangeChunk)
	return s.scan(after, func(k, v []byte) bool {
		if live, err := recordLive(v, nowMs); err == nil && live {
			keys = append(keys, string(k))
		}
		return true
	}, func() error {
		if len(keys) == 0 {
			return nil // a chunk of tombstones and expired entries
		}
		err := fn(keys)
		keys = keys[:0]
		return err
	})
}

// scan walks the records after the key after ("" for all) in key order,
// at most rangeChunk records per read transaction. It calls take with
// each record inside the transaction (k and v are valid only there: take
// copies what it keeps; it returns false when its chunk is full), then
// flush outside it, once per transaction. A flush that fails ends the
// walk with its error; a transaction that fails, with that error wrapped.
func (s *Bolt) scan(after string, take func(k, v []byte) bool, flush func() error) error {
	last := []byte(after) // the last key read; empty before the first
	for {
		end := false
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEntries).Cursor()
			var k, v []byte
			if len(last) == 0 {
				k, v = c.First()
			} else if k, v = c.Seek(last); bytes.Equal(k, last) {
				k, v = c.Next()
			}
			more := true
			for scanned := 0; k != nil && scanned < rangeChunk && more; k, v = c.Next() {
				scanned++
				last = append(last[:0], k...)
				more = take(k, v)
			}
			end = k == nil
			return nil
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", s.path, err)
		}
		if err := flush(); err != nil || end {
			return err
		}
	}
}

// Close implements Store.
func (s *Bolt) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

// Size returns the size of the store's file in bytes: what the node holds
// durably, with bbolt's free pages.
func (s *Bolt) Size() int64 {
	var size int64
	_ = s.db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return size
}

// KeyEntry is a key with its entry, for PutMany.
type KeyEntry struct {
	Key   string
	Entry Entry
}

// PutMany stores each entry that is newer than what is held, in one
// transaction and one fsync, and returns how many it applied. A sync
// applies a dump this way.
func (s *Bolt) PutMany(batch []KeyEntry) (int, error) {
	return s.putNewer("put many", batch, nil)
}

// PutEach is Put of every entry of batch, in one transaction and one
// fsync (shared with concurrent writers, see write), and returns the
// entry held afterwards for each, in batch's order: the entry itself if
// it was applied. A master applies a frame of replicated writes this way,
// with no read transaction of its own per entry.
func (s *Bolt) PutEach(batch []KeyEntry) ([]Entry, error) {
	held := make([]Entry, len(batch))
	if _, err := s.putNewer("put each", batch, held); err != nil {
		return nil, err
	}
	return held, nil
}

// putNewer stores each entry of batch that is newer than what is held,
// in one transaction, and returns how many it applied; held, when not
// nil, receives the entry held afterwards for each.
func (s *Bolt) putNewer(what string, batch []KeyEntry, held []Entry) (int, error) {
	var applied int
	var delta int64
	err := s.write(func(tx *bolt.Tx) error {
		applied, delta = 0, 0
		b := tx.Bucket(bucketEntries)
		for i, ke := range batch {
			k := []byte(ke.Key)
			if len(k) == 0 {
				return fmt.Errorf("%s: empty key", what)
			}
			if v := b.Get(k); v != nil {
				cur, err := decodeEntry(v)
				if err != nil {
					return err
				}
				if !ke.Entry.Version.Newer(cur.Version) {
					if held != nil {
						held[i] = cur
					}
					continue
				}
				if !cur.Deleted {
					delta--
				}
			}
			if err := b.Put(k, encodeEntry(ke.Entry)); err != nil {
				return err
			}
			if !ke.Entry.Deleted {
				delta++
			}
			if held != nil {
				held[i] = ke.Entry
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("put %d entries: %w", len(batch), err)
	}
	s.live.Add(delta)
	return applied, nil
}
