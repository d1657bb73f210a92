package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCluster_KillAllThenRestart_NoAcknowledgedWriteLost: writes through
// random nodes, some overwriting others, then SIGKILL of every node at once
// and a restart on the same data directories. Every acknowledged key reads
// back with its last acknowledged value from every node.
func TestCluster_KillAllThenRestart_NoAcknowledgedWriteLost(t *testing.T) {
	c := startCluster(t, 10)
	rng := rand.New(rand.NewPCG(7, 11))
	want := map[string]string{}
	for i := range 120 {
		key := fmt.Sprintf("key-%03d", rng.IntN(80)) // about a third are overwrites
		val := fmt.Sprintf("value %d", i)
		n := c.nodes[rng.IntN(len(c.nodes))]
		requirePut(t, n, key, val)
		want[key] = val
	}
	for _, n := range c.nodes {
		n.kill(t)
	}
	for _, n := range c.nodes {
		n.start(t)
	}
	c.waitConverged(t, joinTimeout, c.nodes...)
	for _, n := range c.nodes {
		for k, v := range want {
			r := get(t, n, k)
			if assert.Equal(t, 200, r.code, "node %s GET /get/%s after kill -9 of all: %v", n.addr, k, r) {
				assert.Equal(t, v, r.body, "node %s key %s", n.addr, k)
			}
		}
	}
}

// cacheOn reads key on every node given, so each holds a cached copy.
func cacheOn(t *testing.T, key string, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		r := get(t, n, key)
		require.Equal(t, 200, r.code, "node %s GET /get/%s: %v", n.addr, key, r)
		r = getLocal(t, n, key)
		require.Equal(t, 200, r.code, "node %s keeps a copy of %s: %v", n.addr, key, r)
	}
}

// TestCluster_DeleteGoneEverywhere: a delete through one node removes the
// key from the masters and from every cached copy; a repeated delete is
// fine.
func TestCluster_DeleteGoneEverywhere(t *testing.T) {
	c := startCluster(t, 10)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	requirePut(t, others[0], "doomed", "v")
	cacheOn(t, "doomed", others[1:5]...)

	r := do(t, others[5], "DELETE", keyPath("/", "doomed"), nil, nil)
	require.Equal(t, 200, r.code, "%v", r)
	eventually(t, 5*time.Second, func() error {
		for _, n := range c.nodes {
			if r := getLocal(t, n, "doomed"); r.code != 404 {
				return fmt.Errorf("node %s still holds the deleted key: %v", n.addr, r)
			}
		}
		return nil
	})
	for _, n := range c.nodes {
		r := get(t, n, "doomed")
		assert.Equal(t, 404, r.code, "node %s GET after delete: %v", n.addr, r)
	}
	r = do(t, others[6], "DELETE", keyPath("/", "doomed"), nil, nil)
	assert.Equal(t, 200, r.code, "a repeated delete: %v", r)
}

// TestCluster_UpdateReplacesCachedCopies: copies cached on three nodes are
// replaced when the key is written again elsewhere.
func TestCluster_UpdateReplacesCachedCopies(t *testing.T) {
	c := startCluster(t, 10)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	requirePut(t, others[0], "news", "old")
	cacheOn(t, "news", others[1:4]...)

	requirePut(t, others[4], "news", "new")
	eventually(t, 5*time.Second, func() error {
		for _, n := range others[1:4] {
			if r := getLocal(t, n, "news"); r.code == 200 && r.body != "new" {
				return fmt.Errorf("node %s still holds %q", n.addr, r.body)
			}
		}
		return nil
	})
	for _, n := range others[1:4] {
		r := get(t, n, "news")
		assert.Equal(t, "new", r.body, "node %s: %v", n.addr, r)
	}
}

// TestCluster_ClientTTLExpiresEverywhere: ?ttl= makes the key expire on
// every node, masters included.
func TestCluster_ClientTTLExpiresEverywhere(t *testing.T) {
	c := startCluster(t, 10)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	r := do(t, others[0], "POST", keyPath("/", "brief")+"?ttl=2s", []byte("v"), nil)
	require.True(t, r.ok(), "%v", r)
	cacheOn(t, "brief", others[1:3]...)

	eventually(t, 10*time.Second, func() error {
		for _, n := range c.nodes {
			if r := get(t, n, "brief"); r.code != 404 {
				return fmt.Errorf("node %s GET after the ttl: %v", n.addr, r)
			}
		}
		return nil
	})
	for _, m := range masters {
		r := getLocal(t, c.byAddr(t, m), "brief")
		assert.Equal(t, 404, r.code, "master %s: %v", m, r)
	}
}

// TestCluster_CacheBoundEvictsLeastRecentlyUsed: a non-master's copies stay
// within --cache-max-bytes, the least recently used going first, while the
// masters keep every key.
func TestCluster_CacheBoundEvictsLeastRecentlyUsed(t *testing.T) {
	c := startCluster(t, 5, withArgs("--cache-max-bytes", "8KiB"))
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	writer, reader := others[0], others[1]
	value := strings.Repeat("x", 1000)
	const nkeys = 30
	for i := range nkeys {
		requirePut(t, writer, fmt.Sprintf("big-%02d", i), value)
	}
	for i := range nkeys {
		r := get(t, reader, fmt.Sprintf("big-%02d", i))
		require.Equal(t, 200, r.code, "%v", r)
	}
	st := status(t, reader)
	assert.LessOrEqual(t, st.CacheMB*(1<<20), float64(8<<10), "cache bytes within the bound")
	assert.Less(t, st.Cached, nkeys)
	assert.Equal(t, 404, getLocal(t, reader, "big-00").code, "the least recently used copy is evicted")
	assert.Equal(t, 200, getLocal(t, reader, fmt.Sprintf("big-%02d", nkeys-1)).code, "the most recent copy is kept")
	for _, m := range masters {
		ms := status(t, c.byAddr(t, m))
		assert.Equal(t, nkeys, ms.Keys, "master %s keeps every key", m)
	}
}

// TestCluster_DeleteSurvivesNodeDownDuringIt: a master killed before a
// delete comes back with the key in its data directory; it must not bring
// the key back.
func TestCluster_DeleteSurvivesNodeDownDuringIt(t *testing.T) {
	c := startCluster(t, 10)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	requirePut(t, others[0], "gone", "v")
	requirePut(t, others[0], "kept", "v")

	down := c.byAddr(t, masters[0])
	down.kill(t)
	alive := c.running()
	eventually(t, failoverTimeout, func() error {
		ms, err := converged(alive)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m == down.addr {
				return fmt.Errorf("survivors still name %s", m)
			}
		}
		return nil
	})
	r := do(t, others[1], "DELETE", keyPath("/", "gone"), nil, nil)
	require.Equal(t, 200, r.code, "%v", r)

	down.start(t)
	c.waitConverged(t, joinTimeout, c.nodes...)
	eventually(t, 10*time.Second, func() error {
		for _, n := range c.nodes {
			if r := get(t, n, "gone"); r.code != 404 {
				return fmt.Errorf("node %s serves the deleted key: %v", n.addr, r)
			}
		}
		return nil
	})
	for _, n := range c.nodes {
		r := get(t, n, "kept")
		assert.Equal(t, 200, r.code, "node %s: %v", n.addr, r)
	}
}

// TestCluster_ConditionalWrites: If-None-Match: * creates only once;
// If-Match needs the current ETag.
func TestCluster_ConditionalWrites(t *testing.T) {
	c := startCluster(t, 4)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	n := c.nonMasters(masters)[0]
	absent := map[string]string{"If-None-Match": "*"}
	r := do(t, n, "POST", keyPath("/", "lock"), []byte("a"), absent)
	require.Equal(t, 200, r.code, "%v", r)
	etag := r.header.Get("ETag")
	r = do(t, c.nodes[0], "POST", keyPath("/", "lock"), []byte("b"), absent)
	assert.Equal(t, 412, r.code, "create of an existing key: %v", r)

	r = do(t, n, "PUT", keyPath("/", "lock"), []byte("c"), map[string]string{"If-Match": `"1-1"`})
	assert.Equal(t, 412, r.code, "stale If-Match: %v", r)
	r = do(t, c.nodes[1], "PUT", keyPath("/", "lock"), []byte("d"), map[string]string{"If-Match": etag})
	require.Equal(t, 200, r.code, "current If-Match: %v", r)
	r = do(t, n, "DELETE", keyPath("/", "lock"), nil, map[string]string{"If-Match": etag})
	assert.Equal(t, 412, r.code, "delete with the old ETag: %v", r)
	assert.Equal(t, "d", get(t, c.nodes[2], "lock").body)
}
