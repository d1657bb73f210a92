package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/store"
)

// dumpOf encodes entries in the dump format, in the order given.
func dumpOf(t testing.TB, keys []string, entries map[string]store.Entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	require.NoError(t, store.WriteDumpHeader(bw))
	for _, k := range keys {
		require.NoError(t, store.WriteDumpEntry(bw, k, entries[k], true))
	}
	require.NoError(t, store.WriteDumpEnd(bw))
	require.NoError(t, bw.Flush())
	return &buf
}

// TestNode_Restore_NewerWins restores entries into a master that already
// holds some keys: an entry newer than what it holds is stored, one older
// is not, expired ones and ones from too far in the future are skipped,
// and a non-master refuses.
func TestNode_Restore_NewerWins(t *testing.T) {
	c := newTestCluster(t)
	nodes := c.startN(3)
	masters := c.waitAgreed()
	var master, other *testNode
	for _, n := range nodes {
		if n.Addr() == masters[0] {
			master = n
		} else if n.Addr() != masters[1] {
			other = n
		}
	}
	// A key written now is newer than anything in the backup.
	_, err := master.Put(ctx(t), "fresh", []byte("written after the backup"))
	require.NoError(t, err)

	now := uint64(time.Now().UnixMilli()) << 16
	old := store.Version{Clock: now - 1000<<16, Node: 9}
	keys := []string{"a", "expired", "fresh", "future", "gone"}
	entries := map[string]store.Entry{
		"a":       {Value: []byte("restored"), Version: old},
		"expired": {Value: []byte("x"), Version: old, Expires: time.Now().Add(-time.Hour).UnixMilli()},
		"fresh":   {Value: []byte("from the backup"), Version: old},
		"future":  {Value: []byte("x"), Version: store.Version{Clock: now + uint64(time.Hour.Milliseconds())<<16, Node: 9}},
		"gone":    {Deleted: true, Version: old},
	}

	_, err = other.Restore(ctx(t), dumpOf(t, keys, entries))
	require.ErrorIs(t, err, cluster.ErrNotMaster, "a non-master refuses a restore")

	res, err := master.Restore(ctx(t), dumpOf(t, keys, entries))
	require.NoError(t, err)
	assert.Equal(t, master.Addr().String(), res.Node)
	assert.Equal(t, 5, res.Read)
	assert.Equal(t, 2, res.Applied, "a and the tombstone of gone")
	assert.Equal(t, 1, res.Older, "fresh: the master's write is newer")
	assert.Equal(t, 1, res.Expired)
	assert.Equal(t, 1, res.Refused)

	e, ok := master.GetLocal("a")
	require.True(t, ok)
	assert.Equal(t, "restored", string(e.Value))
	assert.Equal(t, old, e.Version, "stored with its own version")
	e, ok = master.GetLocal("fresh")
	require.True(t, ok)
	assert.Equal(t, "written after the backup", string(e.Value))
	for _, k := range []string{"expired", "future", "gone"} {
		_, ok := master.GetLocal(k)
		assert.False(t, ok, k)
	}

	// Again: nothing new.
	res, err = master.Restore(ctx(t), dumpOf(t, keys, entries))
	require.NoError(t, err)
	assert.Zero(t, res.Applied)
	assert.Equal(t, 3, res.Older)

	// The next write of a restored key is newer than its restored version.
	w, err := master.Put(ctx(t), "a", []byte("after"))
	require.NoError(t, err)
	assert.True(t, w.Entry.Version.Newer(old))
}

func TestNode_Restore_BadStream(t *testing.T) {
	c := newTestCluster(t)
	n := c.startN(1)[0]
	old := store.Version{Clock: uint64(time.Now().Add(-time.Minute).UnixMilli()) << 16, Node: 9}
	buf := dumpOf(t, []string{"a", "b"}, map[string]store.Entry{
		"a": {Value: []byte("1"), Version: old},
		"b": {Value: []byte("2"), Version: old},
	})
	cut := bytes.NewReader(buf.Bytes()[:buf.Len()-len("end\n")])
	res, err := n.Restore(ctx(t), cut)
	require.ErrorIs(t, err, store.ErrBadDump)
	assert.Equal(t, 2, res.Read)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = n.Restore(canceled, dumpOf(t, []string{"a"}, map[string]store.Entry{"a": {Value: []byte("1"), Version: old}}))
	require.ErrorIs(t, err, context.Canceled)
}

// TestNode_WriteBackup copies a synced master's Bolt store; a non-master
// and a store that cannot copy itself refuse.
func TestNode_WriteBackup(t *testing.T) {
	c := newTestCluster(t)
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "a.db"), store.BoltOptions{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	a := c.startWith(1, st)
	c.waitAgreed()
	for i := range 20 {
		_, err := a.Put(ctx(t), fmt.Sprint("k", i), []byte("v"))
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	var size int64
	require.NoError(t, a.WriteBackup(&buf, func(n int64) { size = n }))
	assert.Equal(t, int64(buf.Len()), size)
	path := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, writeFile(path, buf.Bytes()))
	info, err := store.ReadBackup(path, nil)
	require.NoError(t, err)
	assert.Equal(t, 20, info.Entries)

	b := c.start(2) // a memory store, and a non-master at first
	c.waitAgreed()
	if !b.Status().IsMaster {
		require.ErrorIs(t, b.WriteBackup(&bytes.Buffer{}, nil), cluster.ErrNotMaster)
	} else {
		require.ErrorIs(t, b.WriteBackup(&bytes.Buffer{}, nil), cluster.ErrNoBackup)
	}
	c3 := c.start(3)
	c.waitAgreed()
	if !c3.Status().IsMaster {
		require.ErrorIs(t, c3.WriteBackup(&bytes.Buffer{}, nil), cluster.ErrNotMaster)
	}
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }
