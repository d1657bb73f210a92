package integration

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readClient is a pool wide enough for many concurrent readers per node,
// so that the load, not the test's connection setup, is what the nodes see.
var readClient = &http.Client{
	Timeout: requestTimeout,
	Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
}

// TestCluster_FirstReadsNeverMiss writes thousands of keys through a
// master, every write acknowledged, then reads each key once, at full
// speed, through the eight non-masters of a 10-node cluster. Every read
// must find its value: a key the masters hold never reads as missing. It
// does so in several rounds, each on fresh keys, in one cluster.
func TestCluster_FirstReadsNeverMiss(t *testing.T) {
	const (
		rounds  = 4
		nkeys   = 3000
		writers = 16
		readers = 48
	)
	c := startCluster(t, 10)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	others := c.nonMasters(masters)
	require.Len(t, others, 8)
	writer := c.byAddr(t, masters[0])

	for round := range rounds {
		prefix := fmt.Sprintf("fr%d-", round)
		key := func(i int) string { return fmt.Sprintf("%s%05d", prefix, i) }

		var next atomic.Int64
		var failedWrites atomic.Int64
		var firstErr atomic.Value
		parallel(writers, func(int) {
			for {
				i := int(next.Add(1) - 1)
				if i >= nkeys {
					return
				}
				r, err := writer.do("POST", keyPath("/", key(i)), []byte("value of "+key(i)), nil)
				if err != nil || !r.ok() {
					failedWrites.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("POST %s: %v %v", key(i), r, err))
				}
			}
		})
		require.Zero(t, failedWrites.Load(), "round %d: writes not acknowledged (first: %v)", round, firstErr.Load())

		var (
			mu       sync.Mutex
			notFound []string
			other    []string
			okReads  atomic.Int64
		)
		next.Store(0)
		start := time.Now()
		parallel(readers, func(w int) {
			rd := others[w%len(others)]
			for {
				i := int(next.Add(1) - 1)
				if i >= nkeys {
					return
				}
				k := key(i)
				r, err := rd.doWith(readClient, "GET", keyPath("/get/", k), nil, nil)
				switch {
				case err == nil && r.code == 200 && r.body == "value of "+k:
					okReads.Add(1)
				case err == nil && r.code == 404:
					mu.Lock()
					notFound = append(notFound, rd.addr+" "+k)
					mu.Unlock()
				default:
					mu.Lock()
					other = append(other, fmt.Sprintf("%s GET %s: %v %v", rd.addr, k, r, err))
					mu.Unlock()
				}
			}
		})
		took := time.Since(start)
		t.Logf("round %d: %d of %d first reads found their value in %s (%.0f reads/s); %s",
			round, okReads.Load(), nkeys, took.Round(time.Millisecond), float64(nkeys)/took.Seconds(), udpStats())
		require.Empty(t, notFound, "round %d: %d of %d acknowledged keys read as 404 (first few: %v)",
			round, len(notFound), nkeys, head(notFound, 5))
		require.Empty(t, other, "round %d: %d of %d reads failed otherwise (first few: %v)",
			round, len(other), nkeys, head(other, 5))
		require.EqualValues(t, nkeys, okReads.Load(), "round %d: reads that found their value", round)
	}
}

// head returns at most n elements of s.
func head[T any](s []T, n int) []T { return s[:min(n, len(s))] }
