package cluster_test

import (
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/store"
)

// simResult is one row of the simulation table.
type simResult struct {
	nodes          int
	unicast        bool // no group: every node joins by --join through node 1
	local          bool // a node that is not a master holds a key stored with POST /local: misses go by whohas
	minReads       int
	idlePerSec     float64 // datagrams sent per second by the whole cluster, idle
	maxNodePerSec  float64 // datagrams sent per second by the busiest node (a master), idle
	recvPerSec     float64 // datagrams received per second per node, idle (a multicast is received by every node)
	perRead        float64 // datagrams sent per read under the read load
	answersPerMiss float64 // gotkey/nokey answers per whohas
	directPerRead  float64 // misses asked of the masters alone, per read
	localFraction  float64 // reads served from the reading node's own copy
	copiesPerKey   float64 // cached copies per key, cluster-wide, after the load
}

// simulate runs nodes in one process on the fake network with the
// default heartbeat interval, measures idle traffic, then sends reads of
// keys drawn from a Zipf distribution to random nodes.
func simulate(t *testing.T, nodes, minReads, keys, reads int, unicast, local bool) simResult {
	c := newTestCluster(t)
	c.cfg.HeartbeatInterval = cluster.DefaultHeartbeatInterval
	c.cfg.FailureTimeout = cluster.DefaultFailureTimeout
	c.cfg.CacheMinReads = minReads
	if unicast {
		// A network without multicast: node 1 is told of node 2, every
		// other node of node 1 only.
		c.joinBy(1, true, 2)
		for i := 2; i <= nodes; i++ {
			c.joinBy(i, true, 1)
		}
	}
	all := c.startN(nodes)
	res := simResult{nodes: nodes, minReads: minReads, unicast: unicast, local: local}
	if local {
		// Masters are the lowest addresses of an empty cluster: the last
		// node is not one.
		_, err := all[nodes-1].StoreLocal(ctx(t), netip.Addr{}, "only-here", store.Entry{Value: []byte("x")})
		require.NoError(t, err)
	}

	sent := func() uint64 {
		var s uint64
		for _, n := range all {
			s += n.Status().Transport.Sent
		}
		return s
	}
	const idle = 3 * time.Second
	received := func() uint64 {
		var r uint64
		for _, n := range all {
			r += n.Status().Transport.Received
		}
		return r
	}
	each := make([]uint64, len(all))
	for i, n := range all {
		each[i] = n.Status().Transport.Sent
	}
	recv0 := received()
	before, start := sent(), time.Now()
	time.Sleep(idle) // measuring traffic over a span of time: nothing to poll
	res.idlePerSec = float64(sent()-before) / time.Since(start).Seconds()
	res.recvPerSec = float64(received()-recv0) / time.Since(start).Seconds() / float64(nodes)
	for i, n := range all {
		res.maxNodePerSec = max(res.maxNodePerSec, float64(n.Status().Transport.Sent-each[i])/time.Since(start).Seconds())
	}

	for i := 0; i < keys; i++ {
		_, err := all[i%nodes].Put(ctx(t), fmt.Sprintf("key-%04d", i), []byte("value"))
		require.NoError(t, err)
	}
	var q0, a0, l0, r0, d0 uint64
	for _, n := range all {
		m := n.Status().Counters
		q0, a0, l0, r0 = q0+m.Queries, a0+m.Answers, l0+m.LocalHits, r0+m.LocalHits+m.RemoteHits+m.Misses
		d0 += m.Direct
	}
	rng := rand.New(rand.NewSource(int64(nodes)))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(keys-1))
	type read struct{ node, key int }
	work := make(chan read, reads)
	for i := 0; i < reads; i++ {
		work <- read{rng.Intn(nodes), int(zipf.Uint64())}
	}
	close(work)
	var failed atomic.Int64
	var wg sync.WaitGroup
	before = sent()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if _, _, err := all[r.node].Get(ctx(t), fmt.Sprintf("key-%04d", r.key)); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.perRead = float64(sent()-before) / float64(reads)
	assert.Zero(t, failed.Load(), "reads that failed")

	var q, a, l, r, d uint64
	cached := 0
	for _, n := range all {
		st := n.Status()
		m := st.Counters
		q, a, l, r = q+m.Queries, a+m.Answers, l+m.LocalHits, r+m.LocalHits+m.RemoteHits+m.Misses
		d += m.Direct
		cached += st.Cached
	}
	if q > q0 {
		res.answersPerMiss = float64(a-a0) / float64(q-q0)
	}
	res.directPerRead = float64(d-d0) / float64(reads)
	res.localFraction = float64(l-l0) / float64(r-r0)
	res.copiesPerKey = float64(cached) / float64(keys)
	return res
}

// TestSimulation shows how traffic and replication scale with the size of
// the cluster. By default it runs 10 nodes and checks the bounds; with
// DISTSTORE_SIM=full it runs 10, 30 and 100 nodes with both caching
// policies and prints the table docs/scale.md shows (make bench does).
func TestSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	type mode struct{ unicast, local bool }
	sizes, policies := []int{10}, []int{1}
	modes := []mode{{}, {local: true}, {unicast: true}}
	keys, reads := 500, 5000
	if os.Getenv("DISTSTORE_SIM") == "full" {
		sizes, policies = []int{10, 30, 100}, []int{1, 3}
		reads = 20000
	}
	var rows []simResult
	for _, md := range modes {
		for _, n := range sizes {
			for _, p := range policies {
				name := fmt.Sprintf("nodes=%d/min-reads=%d", n, p)
				switch {
				case md.unicast:
					name = "unicast/" + name
				case md.local:
					name = "local/" + name
				}
				t.Run(name, func(t *testing.T) {
					r := simulate(t, n, p, keys, reads, md.unicast, md.local)
					rows = append(rows, r)
					if md.unicast {
						// Each node sends to the masters, GossipFanout
						// members, a candidate and one list (about 4 + 3
						// datagrams an interval), each master to every
						// member: O(N) in all, not a full mesh of N² per
						// interval.
						perNode := float64(4+cluster.DefaultGossipFanout) / cluster.DefaultHeartbeatInterval.Seconds()
						assert.Less(t, r.idlePerSec, 1.3*(perNode*float64(n)+2*float64(n)/cluster.DefaultHeartbeatInterval.Seconds()),
							"idle datagrams per second")
						assert.Less(t, r.maxNodePerSec, 1.2*float64(n+8)/cluster.DefaultHeartbeatInterval.Seconds(),
							"a master's datagrams per second")
					} else {
						// Heartbeats only: about two datagrams per node per
						// second (one every 500 ms, jittered), linear in the
						// nodes.
						assert.Less(t, r.idlePerSec, 3.0*float64(n), "idle datagrams per second")
					}
					assert.LessOrEqual(t, r.answersPerMiss, 4.0, "answers per whohas")
					switch {
					case md.local:
						// Only the node holding the key the masters lack
						// asks them alone: it needs no one else's.
						assert.Positive(t, r.answersPerMiss, "misses go by whohas while a node holds keys the masters lack")
						assert.Less(t, r.directPerRead, 2.0/float64(n), "misses asked of the masters alone")
					case md.unicast:
						assert.Zero(t, r.directPerRead, "misses without the group are counted as queries")
					default:
						assert.Positive(t, r.directPerRead, "misses asked of the masters alone")
						assert.Zero(t, r.answersPerMiss, "no whohas while the masters hold every key")
					}
					assert.Greater(t, r.localFraction, 0.3, "hot keys are read locally")
				})
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| network | nodes | copy after | idle datagrams/s sent (per node; busiest node) | received/s per node | datagrams per read | answers per whohas | misses asked of the masters alone, per read | reads served locally | copies per key |\n")
	fmt.Fprintf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		network := "multicast"
		switch {
		case r.unicast:
			network = "--join only"
		case r.local:
			network = "multicast, a node with `POST /local` keys"
		}
		answers := "–"
		if r.answersPerMiss > 0 {
			answers = fmt.Sprintf("%.2f", r.answersPerMiss)
		}
		fmt.Fprintf(&b, "| %s | %d | %d read(s) | %.0f (%.2f; %.1f) | %.1f | %.2f | %s | %.2f | %.0f%% | %.1f |\n", network, r.nodes, r.minReads,
			r.idlePerSec, r.idlePerSec/float64(r.nodes), r.maxNodePerSec, r.recvPerSec, r.perRead, answers, r.directPerRead, 100*r.localFraction, r.copiesPerKey)
	}
	t.Log(b.String())
}
