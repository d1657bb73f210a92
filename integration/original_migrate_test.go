package integration

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOriginal_Migration runs the migration procedure of docs/original.md on a
// cluster of original nodes that holds keys, under reads and writes:
//
//  1. add diststore nodes to the group;
//  2. watch /status until the migration is done (every key of every
//     original held by both masters), writing through the originals;
//  3. move the writers to the diststore nodes too, and stop the originals
//     one by one.
//
// Reads go through every node, original or diststore, all along. At the
// end every key ever acknowledged is read, with its last acknowledged
// value, from both masters and through every diststore node (a
// non-master may serve an older copy whose invalidation it missed, until
// --cache-ttl): none is lost, and no read went without an answer.
func TestOriginal_Migration(t *testing.T) {
	origs := startOriginals(t, 3)
	// The old cluster: keys written through the originals (which elect
	// their masters among themselves), keys stored on one original only,
	// and keys sent escaped.
	m := newMigrationLoad(t, origs)
	for i := range 60 {
		m.write(m.rng(), fmt.Sprintf("seed-%02d", i), origs[i%3].addr)
	}
	for i := range 10 {
		key := fmt.Sprintf("local-only-%d", i)
		r := origPost(t, origs[2], "/local/"+key, "l"+key)
		require.Equal(t, 200, r.code, "POST /local/%s: %v", key, r)
		m.acked(key, "l"+key)
	}
	for i := range 5 {
		key := fmt.Sprintf("café-%d", i)
		r := origPost(t, origs[i%3], "/"+url.PathEscape(key), "e"+key)
		require.Equal(t, 200, r.code, "POST %s: %v", url.PathEscape(key), r)
		m.acked(key, "e"+key)
	}
	require.Empty(t, m.failures(), "seeding the original cluster")
	for _, o := range origs {
		require.NotEmpty(t, o.masterIPs(), "original %s elected masters", o.addr)
	}
	t.Logf("original cluster: %d keys acknowledged; masters as the originals hold them: %v", len(m.keys()), origs[0].masterIPs())

	// 1. Add the diststore nodes; load throughout.
	m.start()
	defer m.stop()
	c := startCluster(t, 3, faultArgs())
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	m.addDiststore(c.nodes, false)

	// 2. Watch /status until done.
	start := time.Now()
	eventually(t, 60*time.Second, func() error {
		for _, n := range c.nodes {
			st, err := mixedStatusOf(n)
			if err != nil {
				return err
			}
			if st.Migration == nil || st.Migration.Originals != len(origs) || !st.Migration.Done {
				return fmt.Errorf("node %s: migration %+v", n.addr, st.Migration)
			}
		}
		return nil
	})
	t.Logf("migration done %s after the cluster was ready; the originals hold masters %v", time.Since(start).Round(time.Millisecond), origs[0].masterIPs())
	for _, o := range origs {
		assert.Equal(t, masters, sortedAddrs(o.masterIPs()), "original %s forwards its writes to the diststore masters", o.addr)
	}

	// 3. Writers on the diststore nodes too; stop the originals one by
	// one, with load in between.
	m.addDiststore(c.nodes, true)
	for _, o := range origs {
		m.waitOps(t, 200)
		m.stopOriginal(o)
		t.Logf("stopped original %s", o.addr)
		eventually(t, 20*time.Second, func() error {
			st, err := mixedStatusOf(c.node(1))
			if err != nil {
				return err
			}
			if st.Migration != nil && !st.Migration.Done {
				return fmt.Errorf("migration not done after stopping %s: %+v", o.addr, st.Migration)
			}
			return nil
		})
	}
	m.waitOps(t, 200)
	m.stop()

	// Nothing lost, every read answered.
	writes, reads := m.counts()
	t.Logf("%d writes acknowledged, %d reads answered (%d through originals)", writes, reads, m.origReads.Load())
	assert.Empty(t, m.failures(), "reads without an answer, or that did not find a key that was written")
	lost := map[string]string{}
	expected := m.expected()
	var stale []string // "addr key" read older on a non-master
	for key, want := range expected {
		for _, a := range masters {
			r := getLocal(t, c.byAddr(t, a), key)
			if r.code != 200 || !slices.Contains(want, r.body) {
				lost[key] = fmt.Sprintf("master %s: %v, want one of %q", a, r, want)
			}
		}
		for _, n := range c.nonMasters(masters) {
			r := get(t, n, key)
			switch {
			case r.code == 200 && slices.Contains(want, r.body):
			case r.code == 200 && m.wasWritten(key, r.body):
				stale = append(stale, n.addr+" "+key)
			default:
				lost[key] = fmt.Sprintf("node %s: %v, want one of %q", n.addr, r, want)
			}
		}
	}
	if len(stale) > 0 {
		t.Logf("%d reads on non-masters found an older value; reading them again after --cache-ttl (%s)", len(stale), faultCacheTTL)
		time.Sleep(faultCacheTTL + time.Second) // what is checked is what a copy's expiry does
		for _, s := range stale {
			addr, key, _ := strings.Cut(s, " ")
			r := get(t, c.byAddr(t, addr), key)
			if r.code != 200 || !slices.Contains(expected[key], r.body) {
				lost[key] = fmt.Sprintf("node %s after --cache-ttl: %v, want one of %q", addr, r, expected[key])
			}
		}
	}
	if !assert.Empty(t, lost, "keys lost or holding another value than the last one acknowledged (of %d)", len(expected)) {
		for key := range lost {
			t.Logf("writes of %s: %s", key, m.history(key))
		}
	}
}

// migrationLoad writes and reads through original and diststore nodes.
// Each key has one writer at a time, so its last acknowledged value is
// known; a write whose answer was lost may have happened too.
type migrationLoad struct {
	t testing.TB

	mu      sync.Mutex // guards the fields below
	origs   []*origNode
	stopped map[*origNode]bool
	dist    []*node // diststore nodes reads go to
	distW   []*node // diststore nodes writes go to
	want    map[string][]string
	written map[string]bool   // "key\x00value" of every write attempted
	via     map[string]string // value → how it was written, for a failure's report
	order   []string
	fails   []string
	seq     int

	// gate[o] is held for reading by every request to original o, and
	// for writing while it is stopped, so that no request is cut by the
	// stop (a request to a stopped node is not sent).
	gate map[*origNode]*sync.RWMutex

	ops       atomic.Int64
	origReads atomic.Int64
	writes    atomic.Int64
	reads     atomic.Int64
	quit      chan struct{}
	wg        sync.WaitGroup
}

func newMigrationLoad(t testing.TB, origs []*origNode) *migrationLoad {
	m := &migrationLoad{t: t, origs: origs, stopped: map[*origNode]bool{}, want: map[string][]string{}, written: map[string]bool{}, via: map[string]string{},
		gate: map[*origNode]*sync.RWMutex{}, quit: make(chan struct{})}
	for _, o := range origs {
		m.gate[o] = &sync.RWMutex{}
	}
	return m
}

func (m *migrationLoad) rng() *rand.Rand { return rand.New(rand.NewPCG(rand.Uint64(), 0)) }

// history describes every write of key, in order.
func (m *migrationLoad) history(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for v, how := range m.via {
		if strings.HasPrefix(v, key+"=") {
			out = append(out, v+" "+how)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// note records how val was written.
func (m *migrationLoad) note(val, how string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.via[val] = time.Now().Format("15:04:05.000") + " " + how
}

// wasWritten reports whether val was ever written to key.
func (m *migrationLoad) wasWritten(key, val string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written[key+"\x00"+val]
}

func (m *migrationLoad) acked(key, val string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.written[key+"\x00"+val] = true
	if _, ok := m.want[key]; !ok {
		m.order = append(m.order, key)
	}
	m.want[key] = []string{val}
}

func (m *migrationLoad) maybe(key, val string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.want[key]; !ok {
		m.order = append(m.order, key)
	}
	m.want[key] = append(m.want[key], val)
}

func (m *migrationLoad) fail(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fails) < 50 {
		m.fails = append(m.fails, fmt.Sprintf(format, args...))
	}
}

func (m *migrationLoad) failures() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.fails)
}

func (m *migrationLoad) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.order)
}

func (m *migrationLoad) expected() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.want))
	for k, v := range m.want {
		out[k] = slices.Clone(v)
	}
	return out
}

func (m *migrationLoad) counts() (writes, reads int64) { return m.writes.Load(), m.reads.Load() }

func (m *migrationLoad) addDiststore(nodes []*node, writes bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dist = nodes
	if writes {
		m.distW = nodes
	}
}

// runningOrig returns a running original chosen by rng with its gate
// held for reading, or nil.
func (m *migrationLoad) runningOrig(rng *rand.Rand) (*origNode, func()) {
	m.mu.Lock()
	var live []*origNode
	for _, o := range m.origs {
		if !m.stopped[o] {
			live = append(live, o)
		}
	}
	m.mu.Unlock()
	if len(live) == 0 {
		return nil, nil
	}
	o := live[rng.IntN(len(live))]
	g := m.gate[o]
	g.RLock()
	m.mu.Lock()
	gone := m.stopped[o]
	m.mu.Unlock()
	if gone {
		g.RUnlock()
		return nil, nil
	}
	return o, g.RUnlock
}

// write writes key through the original at addr, or through a diststore
// writer node when addr is "" and there is one (else an original).
func (m *migrationLoad) write(rng *rand.Rand, key, via string) {
	m.mu.Lock()
	m.seq++
	val := fmt.Sprintf("%s=%d", key, m.seq)
	m.written[key+"\x00"+val] = true
	distW := m.distW
	m.mu.Unlock()
	if via == "" && len(distW) > 0 && rng.IntN(2) == 0 {
		n := distW[rng.IntN(len(distW))]
		r, err := n.do("POST", keyPath("/", key), []byte(val), map[string]string{"Content-Type": "application/octet-stream"})
		m.note(val, fmt.Sprintf("via diststore %s: %v %v", n.addr, r, err))
		switch {
		case err != nil:
			m.maybe(key, val)
			m.fail("write %s through diststore %s: %v", key, n.addr, err)
		case r.code != 200:
			m.fail("write %s through diststore %s: %v", key, n.addr, r)
		default:
			m.acked(key, val)
			m.writes.Add(1)
		}
		return
	}
	var o *origNode
	release := func() {}
	if via != "" {
		for _, x := range m.origs {
			if x.addr == via {
				o = x
			}
		}
		m.gate[o].RLock()
		release = m.gate[o].RUnlock
	} else if o, release = m.runningOrig(rng); o == nil {
		return
	}
	defer release()
	r, err := origDo(o, "POST", "/"+url.PathEscape(key), []byte(val))
	how := fmt.Sprintf("via original %s: %v", o.addr, err)
	if r != nil {
		how = fmt.Sprintf("via original %s: %d %q", o.addr, r.code, strings.TrimSpace(strings.SplitN(r.body, "\n", 2)[0]))
	}
	m.note(val, how)
	switch {
	case err != nil:
		m.maybe(key, val)
		m.fail("write %s through original %s: no answer: %v", key, o.addr, err)
	case r.code != 200:
		m.fail("write %s through original %s: %v", key, o.addr, r)
	default:
		m.acked(key, val)
		m.writes.Add(1)
	}
}

// read reads a key that was written through a node chosen by rng; it
// must be answered, and found.
func (m *migrationLoad) read(rng *rand.Rand) {
	keys := m.keys()
	if len(keys) == 0 {
		return
	}
	key := keys[rng.IntN(len(keys))]
	m.mu.Lock()
	dist := m.dist
	m.mu.Unlock()
	if len(dist) > 0 && rng.IntN(2) == 0 {
		n := dist[rng.IntN(len(dist))]
		r, err := n.do("GET", keyPath("/get/", key), nil, nil)
		switch {
		case err != nil:
			m.fail("read %s through diststore %s: no answer: %v", key, n.addr, err)
		case r.code != 200:
			m.fail("read %s through diststore %s: %v", key, n.addr, r)
		default:
			m.reads.Add(1)
		}
		return
	}
	o, release := m.runningOrig(rng)
	if o == nil {
		return
	}
	defer release()
	// The original cannot read a key that needs escaping but as its
	// client sent it: the path's text.
	r, err := origDo(o, "GET", "/get/"+url.PathEscape(key), nil)
	switch {
	case err != nil:
		m.fail("read %s through original %s: no answer (dropped connections %d, invalid responses %d): %v",
			key, o.addr, o.dropped.Load(), o.invalid.Load(), err)
	case r.code != 200:
		m.fail("read %s through original %s: %v", key, o.addr, r)
	default:
		m.reads.Add(1)
		m.origReads.Add(1)
	}
}

// start runs two writers, each with its own keys, and four readers.
func (m *migrationLoad) start() {
	for w := range 2 {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			rng := m.rng()
			for i := 0; ; i++ {
				select {
				case <-m.quit:
					return
				default:
				}
				m.write(rng, fmt.Sprintf("w%d-%02d", w, i%40), "")
				m.ops.Add(1)
			}
		}()
	}
	for range 4 {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			rng := m.rng()
			for {
				select {
				case <-m.quit:
					return
				default:
				}
				m.read(rng)
				m.ops.Add(1)
			}
		}()
	}
}

// waitOps waits until n more operations have completed.
func (m *migrationLoad) waitOps(t testing.TB, n int64) {
	t.Helper()
	target := m.ops.Load() + n
	eventually(t, 60*time.Second, func() error {
		if got := m.ops.Load(); got < target {
			return fmt.Errorf("%d operations, waiting for %d", got, target)
		}
		return nil
	})
}

// stopOriginal stops o once no request to it is in flight; no request is
// sent to it afterwards.
func (m *migrationLoad) stopOriginal(o *origNode) {
	g := m.gate[o]
	g.Lock()
	m.mu.Lock()
	m.stopped[o] = true
	m.mu.Unlock()
	g.Unlock()
	o.stop()
}

func (m *migrationLoad) stop() {
	select {
	case <-m.quit:
	default:
		close(m.quit)
	}
	m.wg.Wait()
}
