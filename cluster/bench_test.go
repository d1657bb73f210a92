package cluster_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/store"
)

// BenchmarkWrite measures acknowledged writes per second through a
// non-master of a three-node in-process cluster (fake multicast, in-memory
// HTTP), with 1, 8 and 64 concurrent clients, over bbolt stores with and
// without fsync. Compare durable against nosync at the same client count:
//
//	go test -run '^$' -bench BenchmarkWrite ./cluster/
func BenchmarkWrite(b *testing.B) {
	for _, durable := range []bool{true, false} {
		for _, clients := range []int{1, 8, 64} {
			name := fmt.Sprintf("durable=%v/clients=%d", durable, clients)
			b.Run(name, func(b *testing.B) { benchWrite(b, durable, clients) })
		}
	}
}

func benchWrite(b *testing.B, durable bool, clients int) {
	c := newTestCluster(b)
	dir := b.TempDir()
	for i := 1; i <= 3; i++ {
		st, err := store.OpenBolt(filepath.Join(dir, fmt.Sprintf("node%d.db", i)), store.BoltOptions{NoSync: !durable})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		c.startWith(i, st)
	}
	c.waitAgreed()
	writer := c.nonMasters()[0]
	value := make([]byte, 100)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := writer.Put(ctx(b), fmt.Sprintf("key-%d", i), value); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkResync measures how fast a new master copies every key from
// the other master (GET /dump, applied by concurrent writers into a
// durable bbolt store): 20k keys of 100 bytes per op, reported as keys/s.
func BenchmarkResync(b *testing.B) {
	if b.N > 20 {
		b.Skipf("each op is a whole resync of 20k keys; run it with -benchtime 3x, not %dx", b.N)
	}
	const keys = 20000
	dir := b.TempDir()
	src, err := store.OpenBolt(filepath.Join(dir, "master.db"), store.BoltOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < keys; i += 16 {
				e := store.Entry{Value: make([]byte, 100), Version: store.Version{Clock: uint64(i + 1), Node: 1}}
				if _, _, err := src.Put(fmt.Sprintf("key-%06d", i), e); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newTestCluster(b)
		c.startWith(1, src)
		c.waitAgreed()
		dst, err := store.OpenBolt(filepath.Join(dir, fmt.Sprintf("new-%d.db", i)), store.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n := c.startWith(2, dst)
		eventually(b, time.Minute, func() error {
			if st := n.Status(); !st.Synced || st.Keys != keys {
				return fmt.Errorf("new master: synced %v, %d keys", st.Synced, st.Keys)
			}
			return nil
		})
		b.StopTimer()
		c.crash(2)
		c.crash(1)
		_ = dst.Close()
	}
	b.ReportMetric(float64(keys)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkDelete measures deletes through a non-master of a three-node
// in-process cluster, one client, durable stores: of keys that exist and
// of keys that do not. A delete asks the deciding master whether the key
// exists, so it costs what a conditional write does:
//
//	go test -run '^$' -bench BenchmarkDelete ./cluster/
func BenchmarkDelete(b *testing.B) {
	for _, exists := range []bool{true, false} {
		b.Run(fmt.Sprintf("exists=%v", exists), func(b *testing.B) {
			c := newTestCluster(b)
			dir := b.TempDir()
			for i := 1; i <= 3; i++ {
				st, err := store.OpenBolt(filepath.Join(dir, fmt.Sprintf("node%d.db", i)), store.BoltOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = st.Close() })
				c.startWith(i, st)
			}
			c.waitAgreed()
			writer := c.nonMasters()[0]
			if exists {
				for i := 0; i < b.N; i++ {
					if _, err := writer.Put(ctx(b), fmt.Sprintf("key-%d", i), []byte("v")); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := writer.Write(ctx(b), fmt.Sprintf("key-%d", i), cluster.Write{Delete: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
