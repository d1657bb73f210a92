package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeKind opens one implementation of Store for the conformance suite.
type storeKind struct {
	name string
	// open returns a store kept in dir. A persistent kind returns the same
	// contents when dir is opened again after Close.
	open       func(t testing.TB, dir string) Store
	persistent bool
}

var storeKinds = []storeKind{
	{
		name: "Memory",
		open: func(testing.TB, string) Store { return NewMemory() },
	},
	{
		name: "Bolt",
		open: func(t testing.TB, dir string) Store {
			t.Helper()
			s, err := OpenBolt(filepath.Join(dir, "store.db"), BoltOptions{NoSync: true})
			require.NoError(t, err)
			return s
		},
		persistent: true,
	},
}

// forEachStore runs test once per Store implementation, each with a new,
// empty store that is checked and closed at cleanup.
func forEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			s := k.open(t, t.TempDir())
			t.Cleanup(func() {
				checkInvariants(t, s)
				require.NoError(t, s.Close())
				require.NoError(t, s.Close(), "second Close")
			})
			test(t, s)
		})
	}
}

// checkInvariants checks that RangeKeys, Len and Range agree with each
// other.
func checkInvariants(t testing.TB, s Store) {
	t.Helper()
	keys := allKeys(t, s)
	require.True(t, slices.IsSorted(keys), "RangeKeys not in key order: %q", keys)
	require.Equal(t, len(slices.Compact(slices.Clone(keys))), len(keys), "RangeKeys lists a key twice")
	require.Equal(t, len(keys), s.Len(), "Len and RangeKeys disagree")
	var ranged, live []string
	s.Range(func(k string, e Entry) bool {
		ranged = append(ranged, k)
		if !e.Deleted {
			live = append(live, k)
		}
		return true
	})
	require.True(t, slices.IsSorted(ranged), "Range not in key order: %q", ranged)
	require.Equal(t, len(slices.Compact(slices.Clone(ranged))), len(ranged), "Range visits a key twice")
	require.Equal(t, keys, nonNil(live), "Range and RangeKeys disagree")
}

// listKeys returns what RangeKeys(after, nowMs) lists, checking that every
// chunk holds between 1 and rangeChunk keys; never nil.
func listKeys(t testing.TB, s Store, after string, nowMs int64) []string {
	t.Helper()
	keys := []string{}
	require.NoError(t, s.RangeKeys(after, nowMs, func(chunk []string) error {
		require.NotEmpty(t, chunk, "an empty chunk")
		require.LessOrEqual(t, len(chunk), rangeChunk, "a chunk larger than rangeChunk")
		keys = append(keys, chunk...)
		return nil
	}))
	return keys
}

// allKeys returns the keys of the entries that are not tombstones,
// expired ones included.
func allKeys(t testing.TB, s Store) []string {
	t.Helper()
	return listKeys(t, s, "", 0)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func v(clock uint64, node uint32) Version { return Version{Clock: clock, Node: node} }

func put(t testing.TB, s Store, key string, e Entry) (Entry, bool) {
	t.Helper()
	held, applied, err := s.Put(key, e)
	require.NoError(t, err)
	return held, applied
}

func requireEntry(t testing.TB, want, got Entry) {
	t.Helper()
	require.Equal(t, want.Version, got.Version, "version")
	require.Equal(t, want.Deleted, got.Deleted, "deleted")
	require.Equal(t, want.Expires, got.Expires, "expires")
	require.True(t, bytes.Equal(want.Value, got.Value), "value: want %q, got %q", want.Value, got.Value)
}

func TestStore_Put_VersionOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		e2 := Entry{Value: []byte("two"), Version: v(2, 1)}
		held, ok := put(t, s, "k", e2)
		require.True(t, ok)
		requireEntry(t, e2, held)

		held, ok = put(t, s, "k", Entry{Value: []byte("one"), Version: v(1, 9)})
		require.False(t, ok, "older write applied")
		requireEntry(t, e2, held)

		held, ok = put(t, s, "k", Entry{Value: []byte("same"), Version: v(2, 1)})
		require.False(t, ok, "write with the same version applied")
		requireEntry(t, e2, held)

		e2n := Entry{Value: []byte("two, higher node"), Version: v(2, 2)}
		_, ok = put(t, s, "k", e2n)
		require.True(t, ok, "node breaks the tie")

		got, ok := s.Get("k")
		require.True(t, ok)
		requireEntry(t, e2n, got)

		_, ok = s.Get("missing")
		require.False(t, ok)
	})
}

func TestStore_Put_Tombstone(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		put(t, s, "k", Entry{Value: []byte("a"), Version: v(3, 1)})
		tomb := Entry{Version: v(5, 1), Deleted: true}
		_, ok := put(t, s, "k", tomb)
		require.True(t, ok, "tombstone newer than the value")

		got, ok := s.Get("k")
		require.True(t, ok, "Get returns tombstones")
		requireEntry(t, tomb, got)
		require.False(t, got.Live(0))

		held, ok := put(t, s, "k", Entry{Value: []byte("late"), Version: v(4, 7)})
		require.False(t, ok, "write older than the tombstone applied")
		requireEntry(t, tomb, held)
		_, ok = put(t, s, "k", Entry{Value: []byte("same"), Version: v(5, 1)})
		require.False(t, ok, "write at the tombstone's version applied")

		newer := Entry{Value: []byte("back"), Version: v(6, 1)}
		_, ok = put(t, s, "k", newer)
		require.True(t, ok, "write newer than the tombstone")
		got, _ = s.Get("k")
		requireEntry(t, newer, got)

		_, ok = put(t, s, "k", Entry{Version: v(5, 9), Deleted: true})
		require.False(t, ok, "older tombstone applied")

		// A tombstone for a key never seen is kept too.
		_, ok = put(t, s, "never", Entry{Version: v(1, 1), Deleted: true})
		require.True(t, ok)
		_, ok = put(t, s, "never", Entry{Value: []byte("x"), Version: v(1, 0)})
		require.False(t, ok)
	})
}

func TestStore_Get_Expired(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		e := Entry{Value: []byte("x"), Version: v(1, 1), Expires: 1000}
		put(t, s, "k", e)
		got, ok := s.Get("k")
		require.True(t, ok, "Get returns expired entries")
		requireEntry(t, e, got)
		require.True(t, got.Live(999))
		require.False(t, got.Live(1000))
		require.Equal(t, []string{"k"}, allKeys(t, s), "expired entries count until purged")
		require.Equal(t, 1, s.Len())
		require.Equal(t, []string{"k"}, listKeys(t, s, "", 999))
		require.Empty(t, listKeys(t, s, "", 1000), "RangeKeys at nowMs skips expired entries")
	})
}

func TestStore_Put_Values(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		big := bytes.Repeat([]byte("0123456789"), 10_000)
		for i, val := range [][]byte{nil, {}, {0}, []byte("é\x00\xff"), big} {
			key := fmt.Sprintf("k%d", i)
			put(t, s, key, Entry{Value: val, Version: v(1, 1)})
			got, ok := s.Get(key)
			require.True(t, ok)
			require.True(t, bytes.Equal(val, got.Value), "value %d", i)
		}
	})
}

func TestStore_RangeKeysLen(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		require.Empty(t, allKeys(t, s))
		require.Equal(t, 0, s.Len())
		put(t, s, "c", Entry{Value: []byte("c"), Version: v(1, 1)})
		put(t, s, "a", Entry{Value: []byte("a"), Version: v(1, 1)})
		put(t, s, "b", Entry{Version: v(1, 1), Deleted: true})
		put(t, s, "d", Entry{Value: []byte("d"), Version: v(1, 1)})
		require.Equal(t, []string{"a", "c", "d"}, allKeys(t, s))
		require.Equal(t, 3, s.Len())

		put(t, s, "c", Entry{Version: v(2, 1), Deleted: true}) // value -> tombstone
		require.Equal(t, []string{"a", "d"}, allKeys(t, s))
		require.Equal(t, 2, s.Len())

		put(t, s, "b", Entry{Value: []byte("b"), Version: v(2, 1)})   // tombstone -> value
		put(t, s, "a", Entry{Value: []byte("a2"), Version: v(2, 1)})  // value -> value
		put(t, s, "a", Entry{Value: []byte("old"), Version: v(1, 5)}) // not applied
		require.Equal(t, []string{"a", "b", "d"}, allKeys(t, s))
		require.Equal(t, 3, s.Len())
	})
}

func TestStore_Delete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		put(t, s, "k", Entry{Value: []byte("x"), Version: v(2, 1)})
		put(t, s, "t", Entry{Version: v(3, 1), Deleted: true})

		for _, tc := range []struct {
			key     string
			ifV     Version
			removed bool
		}{
			{"k", v(1, 1), false}, // older
			{"k", v(2, 2), false}, // newer
			{"missing", v(2, 1), false},
			{"missing", Version{}, false},
			{"k", v(2, 1), true},
			{"k", v(2, 1), false}, // already gone
			{"t", v(3, 1), true},  // purge a tombstone
		} {
			removed, err := s.Delete(tc.key, tc.ifV)
			require.NoError(t, err)
			require.Equal(t, tc.removed, removed, "Delete(%q, %v)", tc.key, tc.ifV)
		}
		_, ok := s.Get("k")
		require.False(t, ok)
		_, ok = s.Get("t")
		require.False(t, ok)
		require.Equal(t, 0, s.Len())
		require.Empty(t, allKeys(t, s))

		// Once purged, the key takes any version again.
		_, ok = put(t, s, "t", Entry{Value: []byte("y"), Version: v(1, 1)})
		require.True(t, ok)
		require.Equal(t, 1, s.Len())
	})
}

func TestStore_Range(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		// More than one Bolt chunk, inserted out of order.
		const n = 2*rangeChunk + 17
		want := make(map[string]Entry, n)
		for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
			k := fmt.Sprintf("key-%05d", i)
			e := Entry{Value: []byte(k), Version: v(uint64(i+1), 1), Deleted: i%7 == 0}
			if e.Deleted {
				e.Value = nil
			}
			want[k] = e
			put(t, s, k, e)
		}
		var keys []string
		s.Range(func(k string, e Entry) bool {
			keys = append(keys, k)
			requireEntry(t, want[k], e)
			return true
		})
		require.Len(t, keys, n, "Range visits tombstones too")
		require.True(t, slices.IsSorted(keys))

		var stopped int
		s.Range(func(string, Entry) bool { stopped++; return stopped < rangeChunk+3 })
		require.Equal(t, rangeChunk+3, stopped, "Range stops when fn returns false")

		var empty int
		NewMemory().Range(func(string, Entry) bool { empty++; return true })
		require.Zero(t, empty)
	})
}

// TestStore_Range_ConcurrentWrites checks that Range sees every key that
// exists throughout, exactly once and in order, while other keys are
// written and deleted.
func TestStore_Range_ConcurrentWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		const n = 3 * rangeChunk
		for i := range n {
			put(t, s, fmt.Sprintf("stable-%05d", i), Entry{Value: []byte("s"), Version: v(1, 1)})
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := uint64(1); ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("churn-%d-%d", w, i%50)
					if _, _, err := s.Put(k, Entry{Value: []byte("c"), Version: v(i, 1)}); err != nil {
						t.Error(err)
						return
					}
					if i%3 == 0 {
						if _, err := s.Delete(k, v(i, 1)); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		for range 3 {
			var stable []string
			s.Range(func(k string, e Entry) bool {
				if k < "stable-" || k >= "stable." {
					return true
				}
				stable = append(stable, k)
				return true
			})
			require.Len(t, stable, n)
			require.True(t, slices.IsSorted(stable))
			require.Equal(t, len(stable), len(slices.Compact(slices.Clone(stable))))
		}
		close(stop)
		wg.Wait()
	})
}

// TestStore_Random applies a seeded random sequence of puts, tombstones and
// deletes to each store and to a map, comparing every result and, at
// checkpoints, the whole contents. Persistent stores are closed and opened
// again every reopenEvery operations.
func TestStore_Random(t *testing.T) {
	const (
		ops         = 4000
		keys        = 60
		checkEvery  = 100
		reopenEvery = 500
	)
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			seed := uint64(20240601)
			rng := rand.New(rand.NewPCG(seed, seed))
			dir := t.TempDir()
			s := k.open(t, dir)
			t.Cleanup(func() { _ = s.Close() })
			model := map[string]Entry{}

			checkAll := func(step int) {
				t.Helper()
				checkInvariants(t, s)
				var live []string
				for key, e := range model {
					if !e.Deleted {
						live = append(live, key)
					}
				}
				slices.Sort(live)
				require.Equal(t, nonNil(live), allKeys(t, s), "step %d", step)
				seen := 0
				s.Range(func(key string, e Entry) bool {
					want, ok := model[key]
					require.True(t, ok, "step %d: Range visits %q, not in the model", step, key)
					requireEntry(t, want, e)
					seen++
					return true
				})
				require.Equal(t, len(model), seen, "step %d", step)
			}

			for step := 1; step <= ops; step++ {
				key := fmt.Sprintf("k%02d", rng.IntN(keys))
				ver := v(uint64(rng.IntN(50)), uint32(rng.IntN(3)))
				cur, have := model[key]
				switch op := rng.IntN(10); {
				case op < 7: // put a value or a tombstone
					e := Entry{Version: ver}
					if rng.IntN(4) == 0 {
						e.Deleted = true
					} else {
						e.Value = fmt.Appendf(nil, "%d", step)
						if rng.IntN(5) == 0 {
							e.Expires = rng.Int64N(1 << 42)
						}
					}
					held, applied, err := s.Put(key, e)
					require.NoError(t, err)
					wantApplied := !have || ver.Newer(cur.Version)
					require.Equal(t, wantApplied, applied, "step %d: Put(%q, %v) over %v", step, key, ver, cur.Version)
					if wantApplied {
						model[key] = e
					}
					requireEntry(t, model[key], held)
				default: // delete, usually at the held version
					if have && rng.IntN(3) > 0 {
						ver = cur.Version
					}
					removed, err := s.Delete(key, ver)
					require.NoError(t, err)
					wantRemoved := have && cur.Version == ver
					require.Equal(t, wantRemoved, removed, "step %d: Delete(%q, %v)", step, key, ver)
					if wantRemoved {
						delete(model, key)
					}
				}
				got, ok := s.Get(key)
				want, have := model[key]
				require.Equal(t, have, ok, "step %d: Get(%q)", step, key)
				if have {
					requireEntry(t, want, got)
				}

				if step%checkEvery == 0 {
					checkAll(step)
				}
				if k.persistent && step%reopenEvery == 0 {
					require.NoError(t, s.Close())
					s = k.open(t, dir)
					checkAll(step)
				}
			}
		})
	}
}

func TestStore_PutMany(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		v := func(c uint64) Version { return Version{Clock: c, Node: 1} }
		_, _, err := s.Put("old", Entry{Value: []byte("held"), Version: v(5)})
		require.NoError(t, err)
		applied, err := s.PutMany([]KeyEntry{
			{"a", Entry{Value: []byte("1"), Version: v(1)}},
			{"old", Entry{Value: []byte("older"), Version: v(4)}},
			{"gone", Entry{Deleted: true, Version: v(2)}},
			{"b", Entry{Value: []byte("2"), Version: v(3)}},
		})
		require.NoError(t, err)
		require.Equal(t, 3, applied, "the older write of \"old\" is not applied")
		e, _ := s.Get("old")
		require.Equal(t, "held", string(e.Value))
		require.Equal(t, []string{"a", "b", "old"}, allKeys(t, s))
		require.Equal(t, 3, s.Len())
	})
}

func TestStore_PutEach(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		pe, ok := s.(interface {
			PutEach([]KeyEntry) ([]Entry, error)
		})
		require.True(t, ok, "%T has PutEach", s)
		v := func(c uint64) Version { return Version{Clock: c, Node: 1} }
		_, _, err := s.Put("old", Entry{Value: []byte("held"), Version: v(5)})
		require.NoError(t, err)
		batch := []KeyEntry{
			{"a", Entry{Value: []byte("1"), Version: v(1)}},
			{"old", Entry{Value: []byte("older"), Version: v(4)}},
			{"gone", Entry{Deleted: true, Version: v(2)}},
			{"a", Entry{Value: []byte("1 again"), Version: v(6)}},
		}
		held, err := pe.PutEach(batch)
		require.NoError(t, err)
		require.Len(t, held, len(batch))
		assert.Equal(t, batch[0].Entry, held[0])
		assert.Equal(t, "held", string(held[1].Value), "the older write is not applied: the held entry comes back")
		assert.Equal(t, v(5), held[1].Version)
		assert.Equal(t, batch[2].Entry, held[2])
		assert.Equal(t, batch[3].Entry, held[3], "a later entry of a key in the same batch wins")
		e, _ := s.Get("a")
		assert.Equal(t, "1 again", string(e.Value))
		assert.Equal(t, 2, s.Len())
	})
}
