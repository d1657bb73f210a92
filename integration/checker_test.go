package integration

// A Jepsen-style history checker for the fault tests (faults_test.go).
//
// A loadGen runs client goroutines that write (and optionally read) through
// random nodes while a test injects faults. Every write is logged with its
// outcome:
//
//   - acked: a 2xx, with the version from its ETag;
//   - failed: a definite error (a 4xx/5xx other than 504, or a connection
//     that could not even be opened, so the request was never sent);
//   - unknown: a timeout, a connection error once the request was sent, or a
//     504 — the write may or may not have happened.
//
// Each value is unique ("<key>#<seq>"), so a value read back names the write
// that produced it. After the faults heal and the cluster converges, check
// reads every key from every master's /getlocal and every live node's /get
// and compares the version found with the highest acknowledged version of
// that key (versions order as the store orders them: clock, then node).
//
// Clients are co-located with the node they talk to: a request to node
// 127.0.2.N leaves from source address 127.0.2.N, so that an iptables rule
// can tell a node's own traffic apart. On a lan (lan_test.go) the test's
// namespace is on both sides of a split and reaches every node.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diststore/diststore/api"
)

const (
	// opTimeout bounds each client request of the load.
	opTimeout = 2500 * time.Millisecond
	// faultCacheTTL is the nodes' --cache-ttl in the fault tests: how long a
	// non-master may serve a stale cached copy at most.
	faultCacheTTL = 5 * time.Second
	// checkConcurrency is how many reads the checker has in flight.
	checkConcurrency = 32
)

// faultArgs are the flags of every node in the fault tests.
func faultArgs() nodeOption { return withArgs("--cache-ttl", faultCacheTTL.String()) }

// ---- versions ----

// ver is a store version as an ETag carries it: "<clock hex>-<node hex>".
type ver struct {
	clock uint64
	node  uint32
}

func (v ver) isZero() bool { return v == ver{} }

// cmp orders versions as the store does: higher clock, then higher node, is
// newer.
func (v ver) cmp(w ver) int {
	switch {
	case v.clock != w.clock:
		if v.clock < w.clock {
			return -1
		}
		return 1
	case v.node != w.node:
		if v.node < w.node {
			return -1
		}
		return 1
	}
	return 0
}

func (v ver) String() string {
	if v.isZero() {
		return "none"
	}
	return strconv.FormatUint(v.clock, 16) + "-" + strconv.FormatUint(uint64(v.node), 16)
}

// parseETag parses `"<clock hex>-<node hex>"` (quotes optional).
func parseETag(s string) (ver, error) {
	s = strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
	c, n, ok := strings.Cut(s, "-")
	if !ok {
		return ver{}, fmt.Errorf("malformed ETag %q", s)
	}
	clock, err := strconv.ParseUint(c, 16, 64)
	if err != nil {
		return ver{}, fmt.Errorf("malformed ETag %q", s)
	}
	node, err := strconv.ParseUint(n, 16, 32)
	if err != nil {
		return ver{}, fmt.Errorf("malformed ETag %q", s)
	}
	return ver{clock, uint32(node)}, nil
}

// ---- clients bound to a source address ----

var (
	srcClientsMu sync.Mutex
	srcClients   = map[string]*http.Client{}
)

// clientFrom returns an HTTP client whose connections leave from src. It
// has no overall timeout: every request carries its own context.
func clientFrom(src string) *http.Client {
	srcClientsMu.Lock()
	defer srcClientsMu.Unlock()
	if c, ok := srcClients[src]; ok {
		return c
	}
	d := &net.Dialer{Timeout: time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c := &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	srcClients[src] = c
	return c
}

// closeSrcClients drops every idle connection of the source-bound clients.
func closeSrcClients() {
	srcClientsMu.Lock()
	defer srcClientsMu.Unlock()
	for _, c := range srcClients {
		c.CloseIdleConnections()
	}
}

// dialError reports whether err happened while opening the connection: the
// request was never sent.
func dialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// fdo sends one request to n from n's own address, bounded by timeout.
func fdo(n *node, timeout time.Duration, method, path string, body []byte, hdr map[string]string) (*reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, n.baseURL()+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := clientFrom(n.clientSrc()).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return &reply{code: resp.StatusCode, body: string(b), header: resp.Header, dur: time.Since(start)}, nil
}

// ---- status and digest ----

// fullStatus is GET /status, the document package api defines, as the
// fault tests read it.
type fullStatus struct{ api.Status }

func (s *fullStatus) String() string {
	return fmt.Sprintf("%s: masters %v epoch %d is_master %t synced %t ready %t keys %d cached %d members %d",
		s.Addr, s.Masters, s.Epoch, s.IsMaster, s.Synced, s.Ready, s.Keys, s.Cached, len(s.Members))
}

// fstatus reads n's /status from n's own address and checks that every
// field is present: addr, masters, epoch, is_master, synced, ready, keys,
// cached, and members[] with addr, keys, master (and synced for a master
// that says it is synced).
func fstatus(n *node) (*fullStatus, error) {
	r, err := fdo(n, 2*time.Second, "GET", "/status", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("node %s /status: %w", n.addr, err)
	}
	if r.code != 200 {
		return nil, fmt.Errorf("node %s /status: %v", n.addr, r)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		return nil, fmt.Errorf("node %s /status: %w in %q", n.addr, err, r.body)
	}
	for _, f := range []string{"addr", "masters", "epoch", "is_master", "synced", "ready", "keys", "cached", "members"} {
		if _, ok := raw[f]; !ok {
			return nil, fmt.Errorf("node %s /status lacks %q: %s", n.addr, f, r.body)
		}
	}
	var members []map[string]json.RawMessage
	if err := json.Unmarshal(raw["members"], &members); err != nil {
		return nil, fmt.Errorf("node %s /status members: %w", n.addr, err)
	}
	for _, m := range members {
		for _, f := range []string{"addr", "keys", "master"} {
			if _, ok := m[f]; !ok {
				return nil, fmt.Errorf("node %s /status: a member lacks %q: %s", n.addr, f, r.body)
			}
		}
	}
	var st fullStatus
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		return nil, fmt.Errorf("node %s /status: %w", n.addr, err)
	}
	if st.Addr != n.addr {
		return nil, fmt.Errorf("node %s /status says addr %q", n.addr, st.Addr)
	}
	return &st, nil
}

// digest is GET /digest.
type digest struct {
	Entries int    `json:"entries"`
	SHA256  string `json:"sha256"`
}

func fdigest(n *node) (digest, error) {
	var d digest
	r, err := fdo(n, 10*time.Second, "GET", "/digest", nil, nil)
	if err != nil {
		return d, fmt.Errorf("node %s /digest: %w", n.addr, err)
	}
	if r.code != 200 {
		return d, fmt.Errorf("node %s /digest: %v", n.addr, r)
	}
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		return d, fmt.Errorf("node %s /digest: %w in %q", n.addr, err, r.body)
	}
	if d.SHA256 == "" {
		return d, fmt.Errorf("node %s /digest: no sha256 in %q", n.addr, r.body)
	}
	return d, nil
}

// digestsEqual checks once that the given masters' digests are equal and
// hold at least minEntries entries; it returns the common digest.
func digestsEqual(c *cluster, masters []string, minEntries int) (digest, error) {
	var first digest
	for i, m := range masters {
		d, err := fdigest(c.byAddr(c.t, m))
		if err != nil {
			return d, err
		}
		if d.Entries < minEntries {
			return d, fmt.Errorf("master %s holds %d entries, want at least %d", m, d.Entries, minEntries)
		}
		if i == 0 {
			first = d
		} else if d != first {
			return d, fmt.Errorf("digests differ: %s %d entries %.12s…, %s %d entries %.12s…",
				masters[0], first.Entries, first.SHA256, m, d.Entries, d.SHA256)
		}
	}
	return first, nil
}

// poll calls f every interval until it returns nil or timeout passes; it
// returns how long that took and f's last error (nil on success). Unlike
// eventually it does not fail the test, and its interval is fixed, for
// timings.
func poll(timeout, interval time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), err
		}
		time.Sleep(interval)
	}
}

// ---- the history ----

type outcome int

const (
	acked outcome = iota
	failed
	unknown
)

func (o outcome) String() string { return [...]string{"acked", "failed", "unknown"}[o] }

// writeOp is one write of the history.
type writeOp struct {
	seq        int64
	key, value string
	via        string // the node written through
	tag        string // the phase the test was in when it started
	start, end time.Time
	out        outcome
	code       int    // HTTP status, 0 without a response
	ver        ver    // from the ETag, when acked
	masters    string // X-Diststore-Masters, when acked
	copies     string // X-Diststore-Copies, when acked
	err        string
}

func (o *writeOp) String() string {
	s := fmt.Sprintf("#%d %s=%q via %s [%s] %s", o.seq, o.key, o.value, o.via, o.tag, o.out)
	if o.code != 0 {
		s += fmt.Sprintf(" %d", o.code)
	}
	if o.out == acked {
		s += fmt.Sprintf(" ver %s masters %s copies %s", o.ver, o.masters, o.copies)
	}
	if o.err != "" {
		s += " (" + o.err + ")"
	}
	return s + fmt.Sprintf(" at +%s..+%s", o.start.Format("15:04:05.000"), o.end.Sub(o.start).Round(time.Millisecond))
}

// readStats counts the outcomes of the load's reads.
type readStats struct {
	ok, notFound, failed, unknown atomic.Int64
	// falseNotFound: 404 for a key whose write was acknowledged before
	// the read started.
	falseNotFound atomic.Int64
}

// history is every write of a test, in the order they were started.
type history struct {
	mu      sync.Mutex
	ops     []*writeOp
	byValue map[string]*writeOp
	keys    []string        // every key written, in first-write order
	known   map[string]bool // keys in keys
	ackedAt map[string]time.Time
	reads   readStats
	// badAcks are 2xx answers without a valid version in their ETag.
	badAcks []*writeOp
}

func newHistory() *history {
	return &history{byValue: map[string]*writeOp{}, known: map[string]bool{}, ackedAt: map[string]time.Time{}}
}

func (h *history) add(o *writeOp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, o)
	h.byValue[o.value] = o
	if !h.known[o.key] {
		h.known[o.key] = true
		h.keys = append(h.keys, o.key)
	}
}

// randomKey returns a key already written, or "" if none.
func (h *history) randomKey(rng *rand.Rand) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) == 0 {
		return ""
	}
	return h.keys[rng.IntN(len(h.keys))]
}

// counts returns how many writes ended with each outcome (ops still in
// flight are not counted).
func (h *history) counts() (a, f, u int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.ops {
		if o.end.IsZero() {
			continue
		}
		switch o.out {
		case acked:
			a++
		case failed:
			f++
		case unknown:
			u++
		}
	}
	return
}

// ackedBetween counts the writes acknowledged in [from, to).
func (h *history) ackedBetween(from, to time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, o := range h.ops {
		if o.out == acked && !o.end.IsZero() && !o.end.Before(from) && o.end.Before(to) {
			n++
		}
	}
	return n
}

// rate is acknowledged writes per second in [from, to).
func (h *history) rate(from, to time.Time) float64 {
	d := to.Sub(from).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(h.ackedBetween(from, to)) / d
}

// ---- the load ----

// loadGen drives writes (and optionally reads) through random nodes.
type loadGen struct {
	t       testing.TB
	h       *history
	prefix  string
	clients int
	// newKeys is the share of writes that create a new key; the rest
	// overwrite a key already written.
	newKeys float64
	// reads is the share of operations that are reads (GET /get).
	reads float64
	// pace, if positive, is how long each client waits after each
	// operation: a load of a bounded rate, whose check stays short.
	pace time.Duration
	// targets returns the nodes to send to; by default the running ones.
	targets func() []*node
	// getKey, if set, limits the checker's /get reads on every node to
	// the keys it accepts (masters' /getlocal still read every key).
	getKey func(key string) bool
	// minShare states, for each phase after "steady", the least share of
	// the steady rate of acknowledged writes that phase must reach; settle
	// fails on a phase it does not state (0 states that none is needed).
	minShare map[string]float64

	phaseMu  sync.Mutex // guards phases and pauses
	phases   []phase    // tags set while the load ran, in order
	pauses   []span     // when the clients were paused
	pausedAt time.Time

	seq    atomic.Int64
	keySeq atomic.Int64
	tag    atomic.Value // string
	paused atomic.Bool
	stopCh chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	start  time.Time
	end    time.Time
	// inflight counts requests in flight, for pause.
	inflight atomic.Int64
}

// phase is a tag set while the load ran, and when.
type phase struct {
	tag  string
	from time.Time
}

// span is an interval of time.
type span struct{ from, to time.Time }

// overlap is how much of s falls within [from, to).
func (s span) overlap(from, to time.Time) time.Duration {
	a, b := s.from, s.to
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	return max(0, b.Sub(a))
}

// minSteadyRate is the least steady rate of acknowledged writes a fault
// test accepts before its fault: a cluster that acknowledges nothing must
// not pass for one that lost nothing.
const minSteadyRate = 20.0

// minPhase is the shortest phase whose rate requireRates judges.
const minPhase = time.Second

// newLoad returns a load of 8 clients, half new keys, no reads, through the
// running nodes of c.
func newLoad(t testing.TB, c *cluster, prefix string) *loadGen {
	g := &loadGen{t: t, h: newHistory(), prefix: prefix, clients: 8, newKeys: 0.5, targets: c.running}
	g.tag.Store("steady")
	return g
}

// setTag labels the writes started from now on; while the load runs, it
// starts a phase whose rate settle checks.
func (g *loadGen) setTag(tag string) {
	g.tag.Store(tag)
	g.phaseMu.Lock()
	defer g.phaseMu.Unlock()
	if !g.start.IsZero() && g.end.IsZero() {
		g.phases = append(g.phases, phase{tag, time.Now()})
	}
}

func (g *loadGen) run() {
	g.stopCh = make(chan struct{})
	g.phaseMu.Lock()
	g.start = time.Now()
	g.phases = append(g.phases, phase{g.tag.Load().(string), g.start})
	g.phaseMu.Unlock()
	for i := range g.clients {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for {
				select {
				case <-g.stopCh:
					return
				default:
				}
				if g.paused.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				g.inflight.Add(1)
				if g.paused.Load() {
					g.inflight.Add(-1)
					continue
				}
				g.one(rng)
				g.inflight.Add(-1)
				if g.pace > 0 {
					time.Sleep(g.pace)
				}
			}
		}()
	}
}

// stop ends the load and waits for the clients; it may be called again.
func (g *loadGen) stop() {
	g.once.Do(func() {
		close(g.stopCh)
		g.wg.Wait()
		g.phaseMu.Lock()
		g.end = time.Now()
		g.phaseMu.Unlock()
	})
}

// pause waits until no request is in flight and starts none until resume.
func (g *loadGen) pause() {
	g.paused.Store(true)
	g.phaseMu.Lock()
	g.pausedAt = time.Now()
	g.phaseMu.Unlock()
	for g.inflight.Load() > 0 {
		time.Sleep(2 * time.Millisecond)
	}
}

func (g *loadGen) resume() {
	g.phaseMu.Lock()
	g.pauses = append(g.pauses, span{g.pausedAt, time.Now()})
	g.phaseMu.Unlock()
	g.paused.Store(false)
}

// requireRates checks, after the load stopped, that it acknowledged writes
// at no less than minSteadyRate before the fault ("steady"), and in every
// later phase at no less than the share of that rate the test states.
// Time with the clients paused does not count.
func (g *loadGen) requireRates(t testing.TB) {
	t.Helper()
	g.phaseMu.Lock()
	phases, pauses, end := slices.Clone(g.phases), slices.Clone(g.pauses), g.end
	g.phaseMu.Unlock()
	if len(phases) == 0 || phases[0].tag != "steady" {
		t.Errorf("the load did not start in phase steady: %v", phases)
		return
	}
	var steady float64
	var lines []string
	for i, p := range phases {
		to := end
		if i+1 < len(phases) {
			to = phases[i+1].from
		}
		active := to.Sub(p.from)
		for _, s := range pauses {
			active -= s.overlap(p.from, to)
		}
		n := 0
		for _, o := range g.h.opsTagged(p.tag) {
			if o.out == acked && !o.start.Before(p.from) && o.start.Before(to) {
				n++
			}
		}
		rate := float64(n) / max(active.Seconds(), 1e-3)
		if i == 0 {
			steady = rate
			lines = append(lines, fmt.Sprintf("steady %d acked in %s: %.0f/s (want >= %.0f/s)", n, active.Round(time.Millisecond), rate, minSteadyRate))
			if rate < minSteadyRate {
				t.Errorf("before the fault the load acknowledged %.1f writes/s, want at least %.0f", rate, minSteadyRate)
			}
			continue
		}
		want, stated := g.minShare[p.tag]
		share := rate / max(steady, 1e-9)
		lines = append(lines, fmt.Sprintf("%s %d acked in %s: %.0f/s, %.3g× steady (want >= %.3g×)", p.tag, n, active.Round(time.Millisecond), rate, share, want))
		switch {
		case active < minPhase:
			lines[len(lines)-1] += " (too short to judge)"
		case !stated:
			t.Errorf("phase %q: the test states no minimum share of the steady write rate", p.tag)
		case share < want:
			t.Errorf("phase %q acknowledged %.0f writes/s, %.3g× the steady %.0f/s; want at least %.3g×", p.tag, rate, share, steady, want)
		}
	}
	t.Logf("FIGURE acked writes/s by phase: %s", strings.Join(lines, "; "))
}

func (g *loadGen) one(rng *rand.Rand) {
	nodes := g.targets()
	if len(nodes) == 0 {
		time.Sleep(10 * time.Millisecond)
		return
	}
	n := nodes[rng.IntN(len(nodes))]
	if g.reads > 0 && rng.Float64() < g.reads {
		if key := g.h.randomKey(rng); key != "" {
			g.read(n, key)
			return
		}
	}
	key := ""
	if rng.Float64() >= g.newKeys {
		key = g.h.randomKey(rng)
	}
	if key == "" {
		key = fmt.Sprintf("%s-%06d", g.prefix, g.keySeq.Add(1))
	}
	g.write(n, key)
}

// write stores key through n and logs the outcome.
func (g *loadGen) write(n *node, key string) *writeOp {
	seq := g.seq.Add(1)
	o := &writeOp{seq: seq, key: key, value: fmt.Sprintf("%s#%d", key, seq), via: n.addr, tag: g.tag.Load().(string), start: time.Now()}
	g.h.add(o)
	r, err := fdo(n, opTimeout, "POST", keyPath("/", key), []byte(o.value), map[string]string{"Content-Type": "application/octet-stream"})
	g.h.mu.Lock()
	defer g.h.mu.Unlock()
	o.end = time.Now()
	switch {
	case err != nil && dialError(err):
		o.out, o.err = failed, err.Error()
	case err != nil:
		o.out, o.err = unknown, err.Error()
	case r.code == http.StatusGatewayTimeout:
		o.out, o.code, o.err = unknown, r.code, strings.TrimSpace(r.body)
	case !r.ok():
		o.out, o.code, o.err = failed, r.code, strings.TrimSpace(r.body)
	default:
		o.out, o.code = acked, r.code
		o.masters, o.copies = r.header.Get("X-Diststore-Masters"), r.header.Get("X-Diststore-Copies")
		v, perr := parseETag(r.header.Get("ETag"))
		if perr != nil {
			o.err = "acked with a bad ETag: " + perr.Error()
			g.h.badAcks = append(g.h.badAcks, o)
		}
		o.ver = v
		if _, ok := g.h.ackedAt[key]; !ok {
			g.h.ackedAt[key] = o.end
		}
	}
	return o
}

// read reads key through n and counts the outcome.
func (g *loadGen) read(n *node, key string) {
	start := time.Now()
	g.h.mu.Lock()
	at, wasAcked := g.h.ackedAt[key]
	g.h.mu.Unlock()
	r, err := fdo(n, opTimeout, "GET", keyPath("/get/", key), nil, nil)
	rs := &g.h.reads
	switch {
	case err != nil && dialError(err):
		rs.failed.Add(1)
	case err != nil || r.code == http.StatusGatewayTimeout:
		rs.unknown.Add(1)
	case r.code == 200:
		rs.ok.Add(1)
	case r.code == 404:
		rs.notFound.Add(1)
		if wasAcked && at.Before(start) {
			rs.falseNotFound.Add(1)
		}
	default:
		rs.failed.Add(1)
	}
}

// ---- preloading ----

// preload writes n new keys "<prefix>-<i>" through random running nodes
// with the given number of concurrent clients, all into h (tagged
// "preload"), and fails the test unless every write is acknowledged. It
// returns how long it took.
func preload(t testing.TB, c *cluster, g *loadGen, n, clients int) time.Duration {
	t.Helper()
	old := g.tag.Load().(string)
	g.setTag("preload")
	defer g.setTag(old)
	start := time.Now()
	var next atomic.Int64
	var bad atomic.Int64
	var firstBad atomic.Value
	var wg sync.WaitGroup
	nodes := c.running()
	for w := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				o := g.write(nodes[(int(i)+w)%len(nodes)], fmt.Sprintf("%s-pre-%06d", g.prefix, i))
				if o.out != acked {
					if bad.Add(1) == 1 {
						firstBad.Store(o.String())
					}
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if b := bad.Load(); b > 0 {
		t.Fatalf("preload: %d of %d writes not acknowledged, e.g. %v", b, n, firstBad.Load())
	}
	t.Logf("preloaded %d keys with %d clients in %s (%.0f acked writes/s)", n, clients, took.Round(time.Millisecond), float64(n)/took.Seconds())
	return took
}

// ---- the check ----

// keyState is what the history says about one key.
type keyState struct {
	lastAcked *writeOp // the acknowledged write with the highest version
	ops       []*writeOp
}

// observation is one read of one key from one node.
type observation struct {
	node  string
	local bool // /getlocal (a master) rather than /get
	code  int
	value string
	ver   ver
	err   error
}

// checkResult sums up a check.
type checkResult struct {
	keys, reads                   int
	acked, failed, unknown        int
	lost                          []string // acked writes missing or older on a master
	lostEverywhere                int      // of those, keys no node served at the last acked version
	stale, staleAfterTTL          int
	staleSamples                  []string
	failedPresent, unknownPresent int
	anomalies                     []string // values nobody wrote, version/value mismatches
	readErrors                    []string
	reorders                      []string // acked B started after acked A ended, yet vB < vA
	took                          time.Duration
}

// summary is the one-line summary of a check.
func (r *checkResult) summary() string {
	return fmt.Sprintf("ops acked %d / failed %d / unknown %d; keys checked %d (%d reads); lost %d (of which on no node %d); stale %d, after cache-ttl %d; failed-but-present %d, unknown-but-present %d; anomalies %d; real-time reorders %d; check took %s",
		r.acked, r.failed, r.unknown, r.keys, r.reads, len(r.lost), r.lostEverywhere, r.stale, r.staleAfterTTL,
		r.failedPresent, r.unknownPresent, len(r.anomalies), len(r.reorders), r.took.Round(time.Millisecond))
}

// parallel calls f(i) for i in [0, n) on checkConcurrency goroutines.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(checkConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// observe reads key from n (from its /getlocal if local), retrying a
// transport error or 5xx a few times.
func observe(n *node, key string, local bool) observation {
	path := keyPath("/get/", key)
	if local {
		path = keyPath("/getlocal/", key)
	}
	var ob observation
	for try := range 3 {
		ob = observation{node: n.addr, local: local}
		r, err := fdo(n, 5*time.Second, "GET", path, nil, nil)
		if err != nil {
			ob.err = err
		} else if r.code >= 500 {
			ob.code, ob.err = r.code, fmt.Errorf("%v", r)
		} else {
			ob.code = r.code
			if r.code == 200 {
				ob.value = r.body
				v, perr := parseETag(r.header.Get("ETag"))
				if perr != nil {
					ob.err = perr
				}
				ob.ver = v
			}
			return ob
		}
		time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
	}
	return ob
}

// check reads every key of h from every master's /getlocal and every given
// node's /get and compares with the history. masters must be the current
// pair; nodes the live nodes. It does not assert; see requireCheck.
func check(t testing.TB, c *cluster, h *history, masters []string, nodes []*node, getKey func(string) bool) *checkResult {
	t.Helper()
	start := time.Now()
	h.mu.Lock()
	keys := slices.Clone(h.keys)
	states := make(map[string]*keyState, len(keys))
	res := &checkResult{keys: len(keys)}
	for _, o := range h.ops {
		if o.end.IsZero() {
			// still in flight: the load must be stopped before a check
			res.anomalies = append(res.anomalies, "write still in flight at check: "+o.String())
			continue
		}
		st := states[o.key]
		if st == nil {
			st = &keyState{}
			states[o.key] = st
		}
		st.ops = append(st.ops, o)
		switch o.out {
		case acked:
			res.acked++
			if st.lastAcked == nil || o.ver.cmp(st.lastAcked.ver) > 0 {
				st.lastAcked = o
			}
		case failed:
			res.failed++
		case unknown:
			res.unknown++
		}
	}
	byValue := h.byValue
	h.mu.Unlock()

	// Real-time reorders: an acked write that began after another acked
	// write of the same key had been acknowledged, yet got a lower version
	// (so the earlier one wins): informational.
	for _, k := range keys {
		st := states[k]
		if st == nil {
			continue
		}
		var done []*writeOp
		for _, o := range st.ops {
			if o.out == acked {
				done = append(done, o)
			}
		}
		for _, b := range done {
			for _, a := range done {
				if b.start.After(a.end) && b.ver.cmp(a.ver) < 0 {
					res.reorders = append(res.reorders, fmt.Sprintf("%s: %v acked before %v started, but has the higher version", k, a, b))
					break
				}
			}
		}
	}

	// judge classifies one observation of key: "" if fine, else why not.
	judge := func(key string, ob observation) (problem string, older bool) {
		st := states[key]
		var want ver
		if st != nil && st.lastAcked != nil {
			want = st.lastAcked.ver
		}
		if ob.err != nil && ob.code != 200 {
			return fmt.Sprintf("read error: %v", ob.err), !want.isZero()
		}
		if ob.code == 404 {
			if want.isZero() {
				return "", false
			}
			return "missing (404), last acked " + st.lastAcked.String(), true
		}
		if ob.code != 200 {
			return fmt.Sprintf("status %d", ob.code), !want.isZero()
		}
		if ob.ver.cmp(want) < 0 {
			w := byValue[ob.value]
			return fmt.Sprintf("older: has %s (%v), last acked %v", ob.ver, w, st.lastAcked), true
		}
		return "", false
	}
	// anomaly looks at what a 200 read says about the history.
	var mu sync.Mutex
	present := map[string]string{} // key -> outcome of the write it shows (masters)
	anomaly := func(key string, ob observation) {
		if ob.code != 200 {
			return
		}
		w, ok := byValue[ob.value]
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !ok || w.key != key:
			res.anomalies = append(res.anomalies, fmt.Sprintf("node %s key %s: value %q was never written to it", ob.node, key, ob.value))
		case w.out == acked && w.ver != ob.ver:
			res.anomalies = append(res.anomalies, fmt.Sprintf("node %s key %s: value of %v served with version %s", ob.node, key, w, ob.ver))
		}
		if ok && ob.local {
			present[key] = w.out.String()
		}
	}

	// Masters: every key from /getlocal.
	lostKeys := map[string]bool{}
	for _, m := range masters {
		mn := c.byAddr(t, m)
		obs := make([]observation, len(keys))
		parallel(len(keys), func(i int) { obs[i] = observe(mn, keys[i], true) })
		res.reads += len(keys)
		for i, ob := range obs {
			anomaly(keys[i], ob)
			if p, older := judge(keys[i], ob); p != "" {
				if older {
					lostKeys[keys[i]] = true
					res.lost = append(res.lost, fmt.Sprintf("master %s key %s: %s", m, keys[i], p))
				} else {
					res.readErrors = append(res.readErrors, fmt.Sprintf("master %s key %s: %s", m, keys[i], p))
				}
			}
		}
	}
	for k, out := range present {
		switch out {
		case "failed":
			res.failedPresent++
		case "unknown":
			res.unknownPresent++
		}
		_ = k
	}

	// Every node: every key from /get.
	getKeys := keys
	if getKey != nil {
		getKeys = nil
		for _, k := range keys {
			if getKey(k) {
				getKeys = append(getKeys, k)
			}
		}
		t.Logf("check: /get on every node for %d of the %d keys", len(getKeys), len(keys))
	}
	type pair struct {
		n   *node
		key string
	}
	var stale []pair
	servedAcked := map[string]bool{}
	for _, n := range nodes {
		obs := make([]observation, len(getKeys))
		parallel(len(getKeys), func(i int) { obs[i] = observe(n, getKeys[i], false) })
		res.reads += len(getKeys)
		for i, ob := range obs {
			anomaly(getKeys[i], ob)
			p, older := judge(getKeys[i], ob)
			if p == "" {
				servedAcked[getKeys[i]] = true
				continue
			}
			if older {
				stale = append(stale, pair{n, getKeys[i]})
				if len(res.staleSamples) < 10 {
					res.staleSamples = append(res.staleSamples, fmt.Sprintf("node %s key %s: %s", n.addr, getKeys[i], p))
				}
			} else {
				res.readErrors = append(res.readErrors, fmt.Sprintf("node %s key %s: %s", n.addr, getKeys[i], p))
			}
		}
	}
	for k := range lostKeys {
		if !servedAcked[k] {
			res.lostEverywhere++
		}
	}
	res.stale = len(stale)
	if len(stale) > 0 {
		// A non-master may serve a stale copy until it expires.
		t.Logf("check: %d stale reads, e.g. %v; reading them again after the cache ttl (%s)", len(stale), res.staleSamples[0], faultCacheTTL)
		time.Sleep(faultCacheTTL + time.Second)
		still := make([]string, len(stale))
		parallel(len(stale), func(i int) {
			ob := observe(stale[i].n, stale[i].key, false)
			if p, older := judge(stale[i].key, ob); p != "" && older {
				still[i] = fmt.Sprintf("node %s key %s: %s", stale[i].n.addr, stale[i].key, p)
			}
		})
		res.reads += len(stale)
		for _, s := range still {
			if s != "" {
				res.staleAfterTTL++
				if res.staleAfterTTL <= 10 {
					res.staleSamples = append(res.staleSamples, "after ttl: "+s)
				}
			}
		}
	}
	res.took = time.Since(start)
	sort.Strings(res.lost)
	return res
}

// requireCheck runs check, logs its summary and details, and fails the test
// on any lost acknowledged write, stale read after the cache ttl, read
// error or anomaly.
func requireCheck(t testing.TB, c *cluster, g *loadGen, masters []string, nodes []*node) *checkResult {
	t.Helper()
	res := check(t, c, g.h, masters, nodes, g.getKey)
	t.Logf("CHECK %s: %s; load %s", t.Name(), res.summary(), g.span())
	show := func(what string, list []string) {
		if len(list) == 0 {
			return
		}
		n := min(len(list), 15)
		t.Logf("%s (%d, first %d):\n  %s", what, len(list), n, strings.Join(list[:n], "\n  "))
	}
	show("LOST acknowledged writes", res.lost)
	show("stale reads", res.staleSamples)
	show("read errors", res.readErrors)
	show("anomalies", res.anomalies)
	show("real-time reorders (informational)", res.reorders)
	if len(res.lost) > 0 {
		t.Errorf("%d acknowledged writes lost on a master (%d keys served by no node at the last acked version)", len(res.lost), res.lostEverywhere)
	}
	if res.staleAfterTTL > 0 {
		t.Errorf("%d reads still stale %s after the first check (cache-ttl %s)", res.staleAfterTTL, faultCacheTTL+time.Second, faultCacheTTL)
	}
	if len(res.readErrors) > 0 {
		t.Errorf("%d reads failed after the cluster converged", len(res.readErrors))
	}
	if len(res.anomalies) > 0 {
		t.Errorf("%d anomalies (values never written, or served with another version)", len(res.anomalies))
	}
	g.h.mu.Lock()
	bad := slices.Clone(g.h.badAcks)
	g.h.mu.Unlock()
	for i, o := range bad {
		if i == 5 {
			break
		}
		t.Errorf("acknowledged without a valid version: %v", o)
	}
	return res
}

// span describes the load: duration and rate.
func (g *loadGen) span() string {
	end := g.end
	if end.IsZero() {
		end = time.Now()
	}
	a, f, u := g.h.counts()
	d := end.Sub(g.start)
	s := fmt.Sprintf("%d writes in %s (%.0f acked/s overall; acked latency %s)", a+f+u, d.Round(time.Millisecond), float64(a)/d.Seconds(), g.h.latencies())
	rs := &g.h.reads
	if r := rs.ok.Load() + rs.notFound.Load() + rs.failed.Load() + rs.unknown.Load(); r > 0 {
		s += fmt.Sprintf("; reads %d: ok %d, 404 %d (after an ack: %d), failed %d, unknown %d",
			r, rs.ok.Load(), rs.notFound.Load(), rs.falseNotFound.Load(), rs.failed.Load(), rs.unknown.Load())
	}
	return s
}

// latencies describes the acknowledged writes' latency: p50, p99, max.
func (h *history) latencies() string {
	h.mu.Lock()
	var ds []time.Duration
	for _, o := range h.ops {
		if o.out == acked && !o.end.IsZero() {
			ds = append(ds, o.end.Sub(o.start))
		}
	}
	h.mu.Unlock()
	if len(ds) == 0 {
		return "n/a"
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %s p99 %s max %s", q(0.5), q(0.99), ds[len(ds)-1].Round(time.Millisecond))
}

// timeline returns acknowledged writes/s in buckets of width from from to
// to, for the log.
func (h *history) timeline(from, to time.Time, width time.Duration, mark time.Time) string {
	var parts []string
	for t := from; t.Before(to); t = t.Add(width) {
		r := h.rate(t, t.Add(width))
		label := fmt.Sprintf("%+.1fs", t.Sub(mark).Seconds())
		parts = append(parts, fmt.Sprintf("%s:%.0f", label, r))
	}
	return strings.Join(parts, " ")
}

// opsByTag summarises the writes started under each tag.
func (h *history) opsByTag() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	type cnt struct{ a, f, u int }
	m := map[string]*cnt{}
	var tags []string
	for _, o := range h.ops {
		c := m[o.tag]
		if c == nil {
			c = &cnt{}
			m[o.tag] = c
			tags = append(tags, o.tag)
		}
		switch o.out {
		case acked:
			c.a++
		case failed:
			c.f++
		case unknown:
			c.u++
		}
	}
	var parts []string
	for _, tg := range tags {
		c := m[tg]
		parts = append(parts, fmt.Sprintf("%s: acked %d failed %d unknown %d", tg, c.a, c.f, c.u))
	}
	return strings.Join(parts, "; ")
}

// errorKinds counts the failed and unknown writes by reason, most common
// first, for the log.
func (h *history) errorKinds(max int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for _, o := range h.ops {
		if o.out == acked || o.end.IsZero() {
			continue
		}
		reason := o.err
		if o.code != 0 {
			reason = fmt.Sprintf("%d %s", o.code, o.err)
		}
		// Strip what varies (addresses, ports) to group the reasons.
		if i := strings.LastIndex(reason, ": "); i >= 0 && o.code == 0 {
			reason = reason[i+2:]
		}
		if len(reason) > 90 {
			reason = reason[:90]
		}
		m[o.out.String()+": "+reason]++
	}
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
	var parts []string
	for i, e := range kvs {
		if i == max {
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", e.v, e.k))
	}
	return strings.Join(parts, " | ")
}
