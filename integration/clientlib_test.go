package integration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/store"
)

// newLibClient returns a client of package client that knows the given
// nodes, in that order.
func newLibClient(t *testing.T, nodes ...*node) *client.Client {
	t.Helper()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.baseURL())
	}
	c, err := client.New(client.Config{Nodes: addrs, Timeout: requestTimeout})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// requireDown checks that nothing answers on n's address any more: the
// connection is refused.
func requireDown(t *testing.T, n *node) {
	t.Helper()
	require.False(t, n.alive(), "node %s's process is still running", n.addr)
	_, err := n.do("GET", "/healthz", nil, nil)
	require.Error(t, err, "node %s still answers", n.addr)
	require.True(t, errors.Is(err, syscall.ECONNREFUSED), "node %s: want connection refused, got %v", n.addr, err)
}

// TestClientLib_SurvivesANode drives a cluster of three through package
// client, which knows all three nodes, the first of them a master. That
// master is killed (and is checked to be down): every read, write,
// conditional write, listing and status afterwards succeeds, through the
// other nodes, with no error surfacing to the caller.
func TestClientLib_SurvivesANode(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	victim := c.byAddr(t, masters[0])
	order := []*node{victim}
	for _, n := range c.nodes {
		if n != victim {
			order = append(order, n)
		}
	}
	cl := newLibClient(t, order...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const before = 50
	for i := range before {
		_, err := cl.Put(ctx, fmt.Sprintf("before/%03d", i), []byte(fmt.Sprint("value ", i)))
		require.NoError(t, err)
	}
	st, err := cl.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, victim.addr+":8181", st.Node, "the client talks to the first node while it is up")

	victim.kill(t)
	requireDown(t, victim)
	t.Logf("killed master %s", victim.addr)

	start := time.Now()
	ops := 0
	for i := 0; i < 100 || time.Since(start) < 3*time.Second; i++ {
		k := fmt.Sprintf("after/%03d", i)
		w, err := cl.Put(ctx, k, []byte("v"+k))
		require.NoError(t, err, "put %s, %s after the kill", k, time.Since(start))
		v, err := cl.Get(ctx, k)
		require.NoError(t, err, "get %s", k)
		require.Equal(t, "v"+k, string(v.Data))
		_, err = cl.CompareAndSwap(ctx, k, w.ETag, []byte("swapped"))
		require.NoError(t, err, "compare-and-swap %s", k)
		old := fmt.Sprintf("before/%03d", i%before)
		v, err = cl.Get(ctx, old)
		require.NoError(t, err, "get %s, written before the kill", old)
		require.Equal(t, fmt.Sprint("value ", i%before), string(v.Data))
		ops += 4
		if i >= 200 {
			break
		}
	}
	p, err := cl.List(ctx, client.ListOptions{Prefix: "before/", Limit: 20})
	require.NoError(t, err)
	assert.Len(t, p.Keys, 20)
	st, err = cl.Status(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, victim.addr+":8181", st.Node)
	t.Logf("%d operations through the client in %s after the kill, none failed", ops, time.Since(start).Round(time.Millisecond))

	// The cluster replaced the master, and the new pair holds every key.
	survivors := c.running()
	newMasters := c.waitConverged(t, failoverTimeout, survivors...)
	assert.NotContains(t, newMasters, victim.addr)
	// A master a node has just learnt of copies the keys before it says
	// it holds them: wait for both to say so.
	_, err = poll(failoverTimeout, pollInterval, func() error { return pairSynced(c, newMasters) })
	require.NoError(t, err, "the new pair %v synced", newMasters)
	for _, m := range newMasters {
		r := getLocal(t, c.byAddr(t, m), "before/007")
		assert.Equal(t, 200, r.code, "master %s holds a key written before the kill: %v", m, r)
	}
}

// TestBackup_UnderLoad_RestoresToFreshCluster takes a backup with
// `diststore backup` while writers keep writing, restores it with
// `diststore restore` into a fresh cluster, and checks that every key
// acknowledged before the backup began is there with its value.
func TestBackup_UnderLoad_RestoresToFreshCluster(t *testing.T) {
	a := startCluster(t, 3)
	a.waitConverged(t, joinTimeout, a.nodes...)
	cl := newLibClient(t, a.nodes...)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	var (
		mu    sync.Mutex
		acked = map[string]time.Time{} // key → when its write was acknowledged
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("load/%d/%06d", g, i)
				if _, err := cl.Put(ctx, k, []byte(k+" value")); err != nil {
					mu.Lock()
					writeErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				acked[k] = time.Now()
				mu.Unlock()
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	eventually(t, time.Minute, func() error {
		if n := count(); n < 500 {
			return fmt.Errorf("%d writes acknowledged, waiting for 500", n)
		}
		return nil
	})

	// Every write acknowledged by now must be in the backup.
	mu.Lock()
	t0 := time.Now()
	var want []string
	for k := range acked {
		want = append(want, k)
	}
	mu.Unlock()
	path := filepath.Join(t.TempDir(), "cluster.backup")
	nodes := a.nodes[0].addr + "," + a.nodes[1].addr + "," + a.nodes[2].addr
	out, errOut, code := runCLIOn(t, nodes, "", "backup", path)
	require.Equal(t, 0, code, "backup: %s", errOut)
	afterBackup := count()
	close(stop)
	wg.Wait()
	require.NoError(t, writeErr, "a write failed during the backup")
	t.Logf("backup: %s(%d writes acknowledged before it began, %d when it ended)", out, len(want), afterBackup)
	require.Greater(t, afterBackup, len(want), "writes went on while the backup ran")

	held := map[string]string{}
	info, err := store.ReadBackup(path, func(key string, e store.Entry) error {
		held[key] = string(e.Value)
		return nil
	})
	require.NoError(t, err)
	for _, k := range want {
		require.Equal(t, k+" value", held[k], "key %s, acknowledged before the backup began (%s before), is not in the backup",
			k, t0.Sub(acked[k]).Round(time.Millisecond))
	}
	t.Logf("the backup holds %d keys", info.Entries)

	// A fresh cluster on the same addresses, new data directories.
	a.shutdown(t)
	b := startCluster(t, 3)
	b.waitConverged(t, joinTimeout, b.nodes...)
	out, errOut, code = runCLIOn(t, b.nodes[2].addr, "", "restore", path)
	require.Equal(t, 0, code, "restore: %s", errOut)
	assert.Equal(t, 2, strings.Count(out, "restored "+path+" to "), "restored to both masters: %s", out)
	assert.Contains(t, out, fmt.Sprintf(": %d entries read, %d stored, 0 older", info.Entries, info.Entries))

	fresh := newLibClient(t, b.nodes...)
	for i, k := range want {
		v, err := fresh.Get(ctx, k)
		require.NoError(t, err, "key %s after the restore", k)
		require.Equal(t, k+" value", string(v.Data))
		if i == 200 {
			break // the rest is checked on the masters directly, below
		}
	}
	masters := b.waitConverged(t, joinTimeout, b.nodes...)
	for _, m := range masters {
		keys, err := b.byAddr(t, m).list()
		require.NoError(t, err)
		set := map[string]bool{}
		for _, k := range keys {
			set[k] = true
		}
		for _, k := range want {
			require.True(t, set[k], "master %s lacks %s after the restore", m, k)
		}
	}
}

// runCLIOn runs the diststore client with --node nodes and returns its
// stdout, stderr and exit code.
func runCLIOn(t *testing.T, nodes, stdin string, args ...string) (string, string, int) {
	t.Helper()
	n := &node{addr: nodes}
	return runCLI(t, n, stdin, args...)
}
