package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestBolt_WriteBackup_UnderWrites copies a store while writers go on: the
// copy opens as a store, holds every entry acknowledged before the copy
// began with its version, and ReadBackup counts what it holds.
func TestBolt_WriteBackup_UnderWrites(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	const before = 500
	for i := range before {
		_, _, err := s.Put(fmt.Sprintf("k%04d", i), Entry{Value: []byte(fmt.Sprint("v", i)), Version: v(uint64(i+1), 1)})
		require.NoError(t, err)
	}
	_, _, err := s.Put("gone", Entry{Deleted: true, Version: v(9999, 1)})
	require.NoError(t, err)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _, err := s.Put(fmt.Sprintf("w%d-%05d", w, i), Entry{Value: bytes.Repeat([]byte("x"), 200), Version: v(uint64(100000+i), 2)})
				if err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
			}
		}()
	}
	// Let the writers run before and during the copy.
	deadline := time.Now().Add(10 * time.Second)
	for written.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	var size int64 = -1
	n, err := s.WriteBackup(f, func(sz int64) { size = sz })
	require.NoError(t, err)
	require.NoError(t, f.Close())
	close(stop)
	wg.Wait()
	assert.Equal(t, size, n, "begin was told the size written")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, n, st.Size())

	got := map[string]Entry{}
	info, err := ReadBackup(path, func(key string, e Entry) error {
		got[key] = e
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, len(got)-1, info.Entries)
	assert.Equal(t, 1, info.Tombstones)
	assert.Equal(t, n, info.Bytes)
	for i := range before {
		k := fmt.Sprintf("k%04d", i)
		if assert.Contains(t, got, k) {
			assert.Equal(t, fmt.Sprint("v", i), string(got[k].Value))
			assert.Equal(t, v(uint64(i+1), 1), got[k].Version)
		}
	}
	assert.True(t, got["gone"].Deleted)
	assert.Greater(t, info.Entries, before, "writes before the copy are in it")

	// The copy is a store: it opens, and holds what ReadBackup read.
	c, err := OpenBolt(path, BoltOptions{})
	require.NoError(t, err)
	assert.Equal(t, info.Entries, c.Len())
	require.NoError(t, c.Close())
}

func TestReadBackup_StopsAtFnError(t *testing.T) {
	s, _ := openTestBolt(t, BoltOptions{NoSync: true})
	for i := range 10 {
		_, _, err := s.Put(fmt.Sprint("k", i), Entry{Value: []byte("v"), Version: v(uint64(i+1), 1)})
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	_, err := s.WriteBackup(&buf, nil)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "b.db")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	stop := fmt.Errorf("enough")
	calls := 0
	_, err = ReadBackup(path, func(string, Entry) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 3, calls)
}

func TestReadBackup_Refuses(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600))

	// A bbolt file, but not a diststore store.
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}))
	require.NoError(t, db.Close())

	// A store cut short, as a backup whose download stopped half way.
	s, path := openTestBolt(t, BoltOptions{NoSync: true})
	for i := range 2000 {
		_, _, err := s.Put(fmt.Sprintf("k%05d", i), Entry{Value: bytes.Repeat([]byte("v"), 100), Version: v(uint64(i+1), 1)})
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	_, err = s.WriteBackup(&buf, nil)
	require.NoError(t, err)
	cut := filepath.Join(dir, "cut.db")
	require.NoError(t, os.WriteFile(cut, buf.Bytes()[:buf.Len()/2], 0o600))
	_ = path

	for name, p := range map[string]string{"garbage": garbage, "foreign": foreign, "cut short": cut} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadBackup(p, nil)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), p)
		})
	}
	_, err = ReadBackup(filepath.Join(dir, "missing.db"), nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestDump_RoundTripThroughStore(t *testing.T) {
	var buf bytes.Buffer
	in := map[string]Entry{
		"a":    {Value: []byte("one\nline"), Version: v(5, 1)},
		"b":    {Value: []byte{}, Version: v(6, 1), Expires: 1234},
		"gone": {Deleted: true, Version: v(7, 1)},
	}
	bw := bufio.NewWriter(&buf)
	require.NoError(t, WriteDumpHeader(bw))
	for _, k := range []string{"a", "b", "gone"} {
		require.NoError(t, WriteDumpEntry(bw, k, in[k], true))
	}
	require.NoError(t, WriteDumpEnd(bw))
	require.NoError(t, bw.Flush())
	got := map[string]Entry{}
	require.NoError(t, ReadDump(&buf, 1<<20, func(k string, e Entry, noValue bool) error {
		assert.False(t, noValue)
		if e.Value == nil && !e.Deleted {
			e.Value = []byte{}
		}
		got[k] = e
		return nil
	}))
	assert.Equal(t, in, got)
}
