package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// numbered returns the keys k00000 .. k<n-1>, in key order.
func numbered(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%05d", i)
	}
	return keys
}

// putAll stores e under each key, in batches.
func putAll(t testing.TB, s Store, keys []string, e Entry) {
	t.Helper()
	for batch := range slices.Chunk(keys, 500) {
		kes := make([]KeyEntry, len(batch))
		for i, k := range batch {
			kes[i] = KeyEntry{Key: k, Entry: e}
		}
		_, err := s.PutMany(kes)
		require.NoError(t, err)
	}
}

// TestStore_RangeKeys_Chunks: chunks are full but for the last, and there
// is no empty one, at the chunk size's boundaries.
func TestStore_RangeKeys_Chunks(t *testing.T) {
	for _, n := range []int{0, 1, rangeChunk - 1, rangeChunk, rangeChunk + 1, 2*rangeChunk + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s Store) {
				want := numbered(n)
				putAll(t, s, want, Entry{Value: []byte("v"), Version: v(1, 1)})
				var sizes []int
				got := []string{}
				require.NoError(t, s.RangeKeys("", 0, func(keys []string) error {
					sizes = append(sizes, len(keys))
					got = append(got, keys...)
					return nil
				}))
				require.Equal(t, want, got)
				var wantSizes []int
				for rest := n; rest > 0; rest -= rangeChunk {
					wantSizes = append(wantSizes, min(rest, rangeChunk))
				}
				require.Equal(t, wantSizes, sizes)
			})
		})
	}
}

// TestStore_RangeKeys_OnlyLive: tombstones and entries expired at nowMs
// are not listed, even when a whole read transaction holds nothing else.
func TestStore_RangeKeys_OnlyLive(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		all := numbered(3*rangeChunk + 7)
		var want []string
		for i, k := range all {
			e := Entry{Value: []byte("v"), Version: v(1, 1)}
			switch {
			case i >= rangeChunk && i < 2*rangeChunk+3: // more than a chunk of tombstones in a row
				e = Entry{Version: v(1, 1), Deleted: true}
			case i%5 == 1:
				e.Expires = 1000 // expired at 1000
			case i%5 == 2:
				e.Expires = 2000 // still live at 1000
				want = append(want, k)
			default:
				want = append(want, k)
			}
			put(t, s, k, e)
		}
		require.Equal(t, want, listKeys(t, s, "", 1000))
		require.Len(t, allKeys(t, s), len(all)-(rangeChunk+3), "nowMs 0 lists expired entries")
	})
}

// TestStore_RangeKeys_After lists the keys strictly after a given one,
// present or not.
func TestStore_RangeKeys_After(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		keys := numbered(2*rangeChunk + 5)
		putAll(t, s, keys, Entry{Value: []byte("v"), Version: v(1, 1)})
		for _, tc := range []struct {
			after string
			want  []string
		}{
			{"", keys},
			{"a", keys},                             // before every key
			{keys[0], keys[1:]},                     // a key held
			{keys[rangeChunk-1], keys[rangeChunk:]}, // at a chunk's end
			{keys[rangeChunk], keys[rangeChunk+1:]},
			{keys[7] + "x", keys[8:]}, // between two keys
			{keys[len(keys)-1], []string{}},
			{"z", []string{}}, // after every key
		} {
			require.Equal(t, tc.want, listKeys(t, s, tc.after, 0), "after %q", tc.after)
		}
	})
}

// TestStore_RangeKeys_StopsOnError: fn's error ends the walk and is
// returned.
func TestStore_RangeKeys_StopsOnError(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		putAll(t, s, numbered(3*rangeChunk), Entry{Value: []byte("v"), Version: v(1, 1)})
		errGone := errors.New("client gone")
		calls := 0
		err := s.RangeKeys("", 0, func([]string) error {
			calls++
			return errGone
		})
		require.ErrorIs(t, err, errGone)
		require.Equal(t, 1, calls)
	})
}

func TestBolt_RangeKeys_AfterClose(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "store.db"), BoltOptions{NoSync: true})
	require.NoError(t, err)
	put(t, s, "k", Entry{Value: []byte("v"), Version: v(1, 1)})
	require.NoError(t, s.Close())
	err = s.RangeKeys("", 0, func([]string) error {
		t.Error("fn called after Close")
		return nil
	})
	require.Error(t, err, "a closed store is an error, not an empty list")
}

// TestBolt_RangeKeys_CopiesNoValues: listing the keys of a store of large
// values allocates for the keys, not the values. Listing them through
// Range (decodeEntry copies every value) allocated as much as the values
// weigh: 8 concurrent GET /list of a node holding 60 MB took its RSS from
// 57 MB to 542 MB.
func TestBolt_RangeKeys_CopiesNoValues(t *testing.T) {
	const n, size = 3000, 10 << 10 // 30 MB of values
	s, err := OpenBolt(filepath.Join(t.TempDir(), "store.db"), BoltOptions{NoSync: true})
	require.NoError(t, err)
	want := numbered(n)
	putAll(t, s, want, Entry{Value: make([]byte, size), Version: v(1, 1)})

	got := make([]string, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	require.NoError(t, s.RangeKeys("", 0, func(keys []string) error {
		got = append(got, keys...)
		return nil
	}))
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("listing %d keys of %d bytes of values allocated %d bytes in %d allocations",
		n, n*size, allocated, after.Mallocs-before.Mallocs)
	require.Less(t, allocated, uint64(n*size/10), "listing keys allocates as if it copied the values")

	// The keys were copied out of bbolt's memory: they outlive its mapping.
	require.NoError(t, s.Close())
	require.Equal(t, want, got)
}
