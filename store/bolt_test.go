package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// openTestBolt opens a Bolt in a new temporary directory and closes it at
// cleanup.
func openTestBolt(t testing.TB, opts BoltOptions) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := OpenBolt(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// requireOpenFails opens path expecting an error that wraps want, and
// checks that the failed open released the file lock.
func requireOpenFails(t *testing.T, path string, want error) {
	t.Helper()
	s, err := OpenBolt(path, BoltOptions{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		_ = s.Close()
	}
	require.ErrorIs(t, err, want)
	require.Contains(t, err.Error(), path)
	requireUnlocked(t, path)
}

// requireUnlocked checks that nothing holds the flock on path, as a
// descriptor leaked by a failed open would.
func requireUnlocked(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond, ReadOnly: true})
	if err == nil {
		require.NoError(t, db.Close())
	} else {
		require.NotErrorIs(t, err, ErrLocked)
		require.NotContains(t, err.Error(), "timeout")
	}
}

func TestBolt_Persist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := OpenBolt(path, BoltOptions{})
	require.NoError(t, err)
	e := Entry{Value: []byte("v"), Version: v(7, 3), Expires: 12345}
	put(t, s, "a", e)
	put(t, s, "b", Entry{Version: v(8, 3), Deleted: true})
	put(t, s, "c", Entry{Value: []byte("c"), Version: v(1, 1)})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "second Close")
	_, _, err = s.Put("x", Entry{Version: v(1, 1)})
	require.Error(t, err, "Put after Close")

	s, err = OpenBolt(path, BoltOptions{})
	require.NoError(t, err)
	defer s.Close()
	got, ok := s.Get("a")
	require.True(t, ok)
	requireEntry(t, e, got)
	got, ok = s.Get("b")
	require.True(t, ok)
	require.True(t, got.Deleted)
	require.Equal(t, 2, s.Len(), "Len counted on open")
	require.Equal(t, []string{"a", "c"}, allKeys(t, s))
}

func TestBolt_Open_EmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	s, err := OpenBolt(path, BoltOptions{})
	require.NoError(t, err, "an empty file is initialised")
	put(t, s, "k", Entry{Value: []byte("v"), Version: v(1, 1)})
	require.NoError(t, s.Close())
}

func TestBolt_Open_NoDir(t *testing.T) {
	_, err := OpenBolt(filepath.Join(t.TempDir(), "missing", "store.db"), BoltOptions{})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NotErrorIs(t, err, ErrCorrupt)
}

func TestBolt_Open_Garbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{1, 100, 4096, 8192, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			require.NoError(t, os.WriteFile(path, b, 0o600))
			requireOpenFails(t, path, ErrCorrupt)
		})
	}
}

// validStore writes a store with enough entries to span many pages and
// returns its path and contents.
func validStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := OpenBolt(path, BoltOptions{NoSync: true})
	require.NoError(t, err)
	for i := range 2000 {
		put(t, s, fmt.Sprintf("key-%05d", i), Entry{Value: bytes.Repeat([]byte{byte(i)}, 100), Version: v(uint64(i+1), 1)})
	}
	require.NoError(t, s.Close())
	return path
}

func TestBolt_Open_Truncated(t *testing.T) {
	path := validStore(t)
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, size := range []int{10, 4096, 2*4096 + 1, 4 * 4096, len(full) / 2, len(full) - 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "store.db")
			require.NoError(t, os.WriteFile(p, full[:size], 0o600))
			s, err := OpenBolt(p, BoltOptions{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				// Only bbolt's preallocated tail was cut off.
				defer s.Close()
				require.Equal(t, 2000, s.Len())
				checkInvariants(t, s)
				return
			}
			requireOpenFails(t, p, ErrCorrupt)
		})
	}
}

// TestBolt_Open_Damaged flips bytes all over a valid file: OpenBolt must
// return (an error or a store) and never panic or crash.
func TestBolt_Open_Damaged(t *testing.T) {
	path := validStore(t)
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	var failed int
	for i := range 40 {
		b := bytes.Clone(full)
		for range 1 + rng.IntN(20) {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		p := filepath.Join(t.TempDir(), fmt.Sprintf("store-%d.db", i))
		require.NoError(t, os.WriteFile(p, b, 0o600))
		s, err := OpenBolt(p, BoltOptions{NoSync: true})
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			requireUnlocked(t, p)
			failed++
			continue
		}
		_ = s.Close()
	}
	t.Logf("%d of 40 damaged files refused", failed)
}

func TestBolt_Open_Foreign(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(tx *bolt.Tx) error
	}{
		{"other bucket", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("other"))
			return err
		}},
		{"unknown format", func(tx *bolt.Tx) error {
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketEntries); err != nil {
				return err
			}
			return m.Put(keyFormat, binary.BigEndian.AppendUint32([]byte(formatMagic), formatVersion+1))
		}},
		{"no entries bucket", func(tx *bolt.Tx) error {
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return m.Put(keyFormat, formatMarker())
		}},
		{"short record", func(tx *bolt.Tx) error {
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := m.Put(keyFormat, formatMarker()); err != nil {
				return err
			}
			e, err := tx.CreateBucket(bucketEntries)
			if err != nil {
				return err
			}
			return e.Put([]byte("k"), []byte("short"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			db, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(tc.setup))
			require.NoError(t, db.Close())
			requireOpenFails(t, path, ErrCorrupt)
		})
	}
}

// TestBolt_Open_Locked checks that a second open of a store in use fails
// with ErrLocked after the timeout instead of blocking. flock locks belong
// to an open file description, so this holds within one process too.
func TestBolt_Open_Locked(t *testing.T) {
	s, path := openTestBolt(t, BoltOptions{})
	start := time.Now()
	_, err := OpenBolt(path, BoltOptions{LockTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), path)
	require.Less(t, time.Since(start), 2*time.Second)

	require.NoError(t, s.Close())
	s2, err := OpenBolt(path, BoltOptions{LockTimeout: 200 * time.Millisecond})
	require.NoError(t, err, "open after the holder closed")
	require.NoError(t, s2.Close())
}

// TestBolt_Get_CopiesValue checks that a value read stays intact after the
// file grows and is remapped, which it would not if it pointed into the
// mmap.
func TestBolt_Get_CopiesValue(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	want := bytes.Repeat([]byte("abc"), 1000)
	put(t, s, "k", Entry{Value: want, Version: v(1, 1)})
	got, _ := s.Get("k")
	var ranged []byte
	s.Range(func(_ string, e Entry) bool { ranged = e.Value; return false })
	for i := range 3000 {
		put(t, s, fmt.Sprintf("fill-%05d", i), Entry{Value: make([]byte, 1000), Version: v(1, 1)})
	}
	require.Equal(t, want, got.Value)
	require.Equal(t, want, ranged)
}

// TestBolt_Put_Concurrent checks the version check inside a shared batch:
// many writers racing on few keys leave each key with its newest version
// and Len exact.
func TestBolt_Put_Concurrent(t *testing.T) {
	s, path := openTestBolt(t, BoltOptions{})
	const writers, perWriter, keys = 16, 100, 8
	var wg sync.WaitGroup
	var applied atomic.Int64
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range perWriter {
				k := fmt.Sprintf("k%d", rng.IntN(keys))
				e := Entry{Value: []byte(k), Version: v(uint64(rng.IntN(1000)), uint32(w)), Deleted: rng.IntN(5) == 0}
				held, ok, err := s.Put(k, e)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					applied.Add(1)
				} else if !held.Version.Newer(e.Version) && held.Version != e.Version {
					t.Errorf("Put %v not applied over older %v", e.Version, held.Version)
				}
			}
		})
	}
	wg.Wait()
	require.Positive(t, applied.Load())
	checkInvariants(t, s)
	before := map[string]Entry{}
	s.Range(func(k string, e Entry) bool { before[k] = e; return true })
	require.NoError(t, s.Close())

	s2, err := OpenBolt(path, BoltOptions{})
	require.NoError(t, err)
	defer s2.Close()
	checkInvariants(t, s2)
	require.Equal(t, len(before), len(allKeys(t, s2))+countDeleted(before))
	s2.Range(func(k string, e Entry) bool { requireEntry(t, before[k], e); return true })
}

func countDeleted(m map[string]Entry) int {
	n := 0
	for _, e := range m {
		if e.Deleted {
			n++
		}
	}
	return n
}

func TestDecodeEntry(t *testing.T) {
	for _, e := range []Entry{
		{Value: []byte("v"), Version: v(1<<63+5, 0xc0a80001), Expires: 1 << 50},
		{Version: v(2, 3), Deleted: true},
		{Value: []byte{}, Version: v(0, 0), Expires: -1},
	} {
		got, err := decodeEntry(encodeEntry(e))
		require.NoError(t, err)
		requireEntry(t, e, got)
		require.Equal(t, e.Deleted, got.Value == nil, "tombstones decode to a nil value, values to non-nil")
	}
	_, err := decodeEntry(make([]byte, recordHeader-1))
	require.ErrorIs(t, err, ErrCorrupt)
	bad := encodeEntry(Entry{Version: v(1, 1)})
	bad[12] = 0x80
	_, err = decodeEntry(bad)
	require.ErrorIs(t, err, ErrCorrupt)
}

// FuzzDecodeEntry checks that decodeEntry refuses with ErrCorrupt or
// accepts exactly what encodeEntry writes: an accepted record re-encodes to
// the same bytes. Seeds: the f.Add calls, and testdata/fuzz/FuzzDecodeEntry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(Entry{Value: []byte("v"), Version: v(1, 2), Expires: 3}))
	f.Add(encodeEntry(Entry{Version: v(1, 2), Deleted: true}))
	f.Add(encodeEntry(Entry{Value: []byte{}, Version: v(0, 0), Expires: -1}))
	f.Add([]byte("short"))
	f.Add(make([]byte, recordHeader-1))
	unknownFlags := encodeEntry(Entry{Value: []byte("v"), Version: v(1, 1)})
	unknownFlags[12] = 0x80
	f.Add(unknownFlags)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		if !bytes.Equal(encodeEntry(e), b) {
			t.Fatalf("re-encoding %x gives %x", b, encodeEntry(e))
		}
	})
}

// BenchmarkBoltPut measures Put throughput with 1, 8 and 64 goroutines
// writing distinct keys, durable and with NoSync.
func BenchmarkBoltPut(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"durable", false}, {"nosync", true}} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode.name, writers), func(b *testing.B) {
				s, _ := openTestBolt(b, BoltOptions{NoSync: mode.noSync})
				value := bytes.Repeat([]byte("x"), 100)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range writers {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, _, err := s.Put(fmt.Sprintf("key-%010d", i), Entry{Value: value, Version: v(uint64(i), 1)}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
			})
		}
	}
}

// TestBolt_Put_FailureInBatch checks that a write failing inside a shared
// commit fails alone: the writes committed with it succeed.
func TestBolt_Put_FailureInBatch(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprintf("k-%d-%d", w, i)
				if i%5 == 0 {
					key = "" // bbolt refuses an empty key
				}
				_, applied, err := s.Put(key, Entry{Value: []byte("v"), Version: v(1, 1)})
				if key == "" {
					if err == nil {
						t.Errorf("Put with an empty key succeeded")
					}
					continue
				}
				if err != nil || !applied {
					t.Errorf("Put(%q) = %v, %v", key, applied, err)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 16*40, s.Len())
	checkInvariants(t, s)
}

// TestBolt_Range_ChunkBoundedByBytes checks that Range copies about
// rangeChunkBytes of values at a time, not rangeChunk values whatever
// their size: an entry deleted while fn runs for an entry some chunks
// before it is not visited, because it had not been copied yet. A /dump
// that its reader stops reading holds one chunk in memory.
func TestBolt_Range_ChunkBoundedByBytes(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	big := make([]byte, rangeChunkBytes*3/5)
	keys := numbered(10)
	for _, k := range keys {
		put(t, s, k, Entry{Value: big, Version: v(1, 1)})
	}
	last := keys[len(keys)-1]
	var visited []string
	s.Range(func(k string, _ Entry) bool {
		if k == keys[0] {
			ok, err := s.Delete(last, v(1, 1))
			require.NoError(t, err)
			require.True(t, ok)
		}
		visited = append(visited, k)
		return true
	})
	require.Equal(t, keys[:len(keys)-1], visited,
		"Range visited %s, deleted while it held the chunk of %s: it copied more than %d bytes at once", last, keys[0], rangeChunkBytes)

	// Every entry is still visited once, in order, at any size.
	s.Range(func(k string, _ Entry) bool { visited = append(visited, k); return true })
	require.Equal(t, append(keys[:len(keys)-1:len(keys)-1], keys[:len(keys)-1]...), visited)
}

// BenchmarkBoltGet measures Get of 1000 keys of 100 bytes, from 50
// goroutines at once (the read figure of make bench).
func BenchmarkBoltGet(b *testing.B) {
	s, _ := openTestBolt(b, BoltOptions{NoSync: true})
	value := bytes.Repeat([]byte("x"), 100)
	for i := range 1000 {
		_, _, err := s.Put(fmt.Sprintf("key-%04d", i), Entry{Value: value, Version: v(uint64(i+1), 1)})
		require.NoError(b, err)
	}
	b.SetParallelism(25) // 50 goroutines on 2 CPUs
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := s.Get(fmt.Sprintf("key-%04d", i%1000)); !ok {
				b.Error("key not found")
				return
			}
			i++
		}
	})
}
