package integration

// A rolling upgrade from the previous release: a cluster of nodes built
// from that release's source is upgraded one node at a time, under load,
// to the binary of this tree (see Compatibility in mcast's package doc).

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diststore/diststore/api"
)

// prevRelease is the commit of the previous release, the last one before
// the replication stream (GET /replicate): its masters answer the stream's
// upgrade request with a 404, so nodes of this release must fall back to a
// request per write.
const prevRelease = "58b7bcaf06e0d992b7599447b8e2198fb723ada2"

// prevVersion is the version compiled into the previous release's binary,
// so that its log tells it apart.
const prevVersion = "prev-58b7bca"

// prevBuildTimeout bounds the previous release's build (the module cache
// is shared, so only diststore's own packages compile).
const prevBuildTimeout = 3 * time.Minute

// buildPrevRelease builds diststored from the previous release's source,
// taken with git archive into a temporary directory, and returns the
// binary. It fails in one line if git, the repository or the commit is
// missing. The namespace has no network: every module the release needs
// must already be in the module cache (its go.mod is this tree's).
func buildPrevRelease(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("the upgrade test builds the previous release from git: git not found (apt-get install git)")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", prevRelease+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("the upgrade test needs the previous release, commit %.8s, in the git repository at %s: %v %s",
			prevRelease, root, err, strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(t.Context(), prevBuildTimeout)
	defer cancel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, prevRelease, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %.8s | tar -x: %v: %s", prevRelease, err, strings.TrimSpace(string(out)))
	}
	bin := filepath.Join(dir, "diststored-prev")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "-ldflags", "-X main.version="+prevVersion, "./cmd/diststored")
	build.Dir = src
	// Offline, from the shared module cache; never this tree's go.work.
	build.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building diststored of the previous release (%.8s): %v\n%s", prevRelease, err, out)
	}
	t.Logf("built diststored %s from commit %.8s in %s", prevVersion, prevRelease, time.Since(start).Round(100*time.Millisecond))
	return bin
}

// prefetchPrevRelease downloads the modules of the previous release's
// go.mod into the module cache, outside the namespace (which has no
// network), so that buildPrevRelease works offline even after this
// tree's go.mod has moved on. Quick when they are there already.
func prefetchPrevRelease() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "diststore-prev-mod-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), prevBuildTimeout)
	defer cancel()
	// A shallow clone may lack the commit: ask its origin for it (best
	// effort; buildPrevRelease names the commit if it is still missing).
	if exec.CommandContext(ctx, "git", "-C", root, "cat-file", "-e", prevRelease+"^{commit}").Run() != nil {
		_ = exec.CommandContext(ctx, "git", "-C", root, "fetch", "--quiet", "origin", prevRelease).Run()
	}
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" go.mod go.sum | tar -x -C "$3"`, "sh", root, prevRelease, dir)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("go.mod of the previous release (%.8s): %v: %s", prevRelease, err, strings.TrimSpace(string(out)))
	}
	dl := exec.CommandContext(ctx, "go", "mod", "download")
	dl.Dir = dir
	dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := dl.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod download for the previous release (%.8s): %v: %s", prevRelease, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// daemonVersion is the version a diststored binary reports (--version).
func daemonVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v: %s", bin, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("%s --version printed nothing", bin)
	}
	return f[len(f)-1]
}

var startedVersion = regexp.MustCompile(`msg="diststored started" version=(\S+)`)

// runningVersion is the version the node logged at its last start.
func runningVersion(n *node) (string, error) {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return "", err
	}
	// The node's output since the harness's last start line.
	if i := strings.LastIndex(string(b), "==== harness: start #"); i >= 0 {
		b = b[i:]
	}
	m := startedVersion.FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return "", fmt.Errorf("node %s: no %q line since its last start", n.addr, "diststored started")
	}
	return string(m[len(m)-1][1]), nil
}

// requireVersions waits until every node logged its start with version v.
func requireVersions(t *testing.T, c *cluster, v string) {
	t.Helper()
	eventually(t, joinTimeout, func() error {
		for _, n := range c.nodes {
			got, err := runningVersion(n)
			if err != nil {
				return err
			}
			if got != v {
				return fmt.Errorf("node %s runs version %s, want %s", n.addr, got, v)
			}
		}
		return nil
	})
}

// release names the release a node runs: "new" (this tree) or "previous".
func release(n *node) string {
	if n.binary() == daemonPath {
		return "new"
	}
	return "previous"
}

// requireMutualMembers checks that a and b list each other as diststore
// members: each accepted the other's heartbeats.
func requireMutualMembers(t *testing.T, a, b *node) {
	t.Helper()
	for _, p := range [][2]*node{{a, b}, {b, a}} {
		st, err := p[0].status()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(st.Members, func(m api.MemberStatus) bool { return m.Addr == p[1].addr })
		if i < 0 {
			t.Fatalf("node %s (%s) does not list %s (%s) among its members %v", p[0].addr, p[0].binary(), p[1].addr, p[1].binary(), st.memberAddrs())
		}
		if k := st.Members[i].Kind; k != api.KindDiststore {
			t.Fatalf("node %s lists %s as a member of kind %q, want diststore", p[0].addr, p[1].addr, k)
		}
	}
}

// reader reads keys of known, never rewritten values through the nodes
// targets returns, one at a time, and counts the answers by the phase
// named at the time.
type reader struct {
	keys    map[string]string
	targets func() []*node
	tag     atomic.Value // string

	mu  sync.Mutex // guards ok and bad
	ok  map[string]int
	bad map[string][]string

	stopCh chan struct{}
	done   chan struct{}
}

func newReader(keys map[string]string, targets func() []*node) *reader {
	r := &reader{keys: keys, targets: targets, ok: map[string]int{}, bad: map[string][]string{},
		stopCh: make(chan struct{}), done: make(chan struct{})}
	r.tag.Store("steady")
	return r
}

func (r *reader) run() {
	defer close(r.done)
	names := make([]string, 0, len(r.keys))
	for k := range r.keys {
		names = append(names, k)
	}
	slices.Sort(names)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for {
		select {
		case <-r.stopCh:
			return
		default:
		}
		nodes := r.targets()
		if len(nodes) == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n := nodes[rng.IntN(len(nodes))]
		key := names[rng.IntN(len(names))]
		tag := r.tag.Load().(string)
		res, err := fdo(n, opTimeout, "GET", keyPath("/get/", key), nil, nil)
		r.mu.Lock()
		switch {
		case err != nil:
			r.bad[tag] = append(r.bad[tag], fmt.Sprintf("%s /get/%s: %v", n.addr, key, err))
		case res.code != 200 || res.body != r.keys[key]:
			r.bad[tag] = append(r.bad[tag], fmt.Sprintf("%s /get/%s: %v", n.addr, key, res))
		default:
			r.ok[tag]++
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *reader) stop() {
	select {
	case <-r.stopCh:
	default:
		close(r.stopCh)
	}
	<-r.done
}

// TestUpgrade_RollingFromPreviousRelease starts four nodes of the previous
// release, writes and reads through them continuously, and replaces them
// one at a time (SIGTERM, then this release's binary on the same address
// and data directory), waiting each time until every node is ready and
// all name the same two masters. It checks that nodes of both releases
// accept each other's datagrams (each lists the other as a member), that a
// mixed cluster elects its masters and syncs them, that a write through a
// node of this release reaches masters of the previous one (which serve no
// replication stream), that reads are served throughout, that no
// acknowledged write is lost (every node serves every key at its latest
// acknowledged version at the end) and that every node ends on this
// release.
func TestUpgrade_RollingFromPreviousRelease(t *testing.T) {
	testStart := time.Now()
	prev := buildPrevRelease(t)
	cur := daemonVersion(t, daemonPath)
	if cur == prevVersion {
		t.Fatalf("this tree's diststored reports the previous release's version %s", cur)
	}

	c := startCluster(t, 4, faultArgs(), withDaemon(prev))
	requireVersions(t, c, prevVersion)

	// The node being replaced gets no client traffic, as a load balancer
	// would drain it; every other node serves throughout.
	var draining atomic.Pointer[node]
	targets := func() []*node {
		return slices.DeleteFunc(c.running(), func(n *node) bool { return n == draining.Load() })
	}

	// Keys written once, before the load, that the reader checks.
	fixed := map[string]string{}
	for i := range 40 {
		k, v := fmt.Sprintf("fixed-%02d", i), fmt.Sprintf("value-%02d", i)
		requirePut(t, c.node(1+i%len(c.nodes)), k, v)
		fixed[k] = v
	}
	rd := newReader(fixed, targets)
	go rd.run()
	defer rd.stop()

	g := newLoad(t, c, "up")
	g.clients = 6
	g.reads = 0.2
	g.targets = targets
	g.minShare = map[string]float64{}
	g.run()
	defer g.stop()
	holdFault(2 * time.Second)

	setTag := func(tag string, share float64) {
		g.minShare[tag] = share
		g.setTag(tag)
		rd.tag.Store(tag)
	}

	// Non-masters first, then the masters, as an operator would.
	st, err := c.node(1).status()
	if err != nil {
		t.Fatal(err)
	}
	order := slices.Clone(c.nonMasters(st.Masters))
	for _, m := range sortedAddrs(st.Masters) {
		order = append(order, c.byAddr(t, m))
	}

	for step, n := range order {
		setTag(fmt.Sprintf("replace-%d", step+1), 0.2)
		draining.Store(n)
		stopStart := time.Now()
		n.stop(t)
		stopped := time.Since(stopStart)
		n.daemon = daemonPath
		n.start(t)
		masters := c.waitConverged(t, joinTimeout, c.nodes...)
		t.Logf("FIGURE step %d: %s stopped in %s, back on %s and the cluster converged on masters %v %s after the SIGTERM",
			step+1, n.addr, stopped.Round(time.Millisecond), cur, masters, time.Since(stopStart).Round(time.Millisecond))
		draining.Store(nil)

		// Heartbeats cross both ways between the releases.
		for _, o := range c.nodes {
			if o.binary() != n.binary() {
				requireMutualMembers(t, n, o)
			}
		}
		// The masters, of either release, sync: with the load paused
		// their digests agree.
		g.pause()
		d, took := waitDigests(t, c, masters, len(fixed), failoverTimeout)
		g.resume()
		t.Logf("step %d: masters %v (on %s, %s) synced, %d entries, %s after the load paused",
			step+1, masters, release(c.byAddr(t, masters[0])), release(c.byAddr(t, masters[1])), d.Entries, took.Round(time.Millisecond))

		if step == 0 {
			// A node of this release forwards to masters of the previous
			// one, which refuse its replication stream: the write must
			// still reach both, by a request each.
			for _, m := range masters {
				if c.byAddr(t, m).binary() != prev {
					t.Fatalf("after replacing a non-master, master %s does not run the previous release", m)
				}
			}
			got := requirePut(t, n, "upgrade-probe", "from-the-new-release")
			if !slices.Equal(got, masters) {
				t.Errorf("write through %s: stored on %v, want the masters %v", n.addr, got, masters)
			}
			for _, m := range masters {
				ob := observe(c.byAddr(t, m), "upgrade-probe", true)
				if ob.code != 200 || ob.value != "from-the-new-release" {
					t.Errorf("master %s (previous release) /getlocal/upgrade-probe: code %d value %q err %v", m, ob.code, ob.value, ob.err)
				}
			}
		}

		setTag(fmt.Sprintf("mixed-%d", step+1), 0.4)
		holdFault(2 * time.Second)
	}
	rd.stop()

	masters, _ := settle(t, c, g)
	t.Logf("all %d nodes upgraded; masters %v", len(c.nodes), masters)
	requireVersions(t, c, cur)
	for _, n := range c.nodes {
		if n.binary() != daemonPath {
			t.Errorf("node %s runs %s, want %s", n.addr, n.binary(), daemonPath)
		}
	}

	// Reads were served in every phase, and none failed.
	rd.mu.Lock()
	defer rd.mu.Unlock()
	var lines []string
	for _, tag := range append([]string{"steady"}, slices.Sorted(maps.Keys(g.minShare))...) {
		lines = append(lines, fmt.Sprintf("%s %d ok %d bad", tag, rd.ok[tag], len(rd.bad[tag])))
		if rd.ok[tag] == 0 {
			t.Errorf("phase %s: no read of a fixed key was served", tag)
		}
		for i, b := range rd.bad[tag] {
			if i == 5 {
				t.Errorf("phase %s: %d reads failed in all", tag, len(rd.bad[tag]))
				break
			}
			t.Errorf("phase %s: read failed: %s", tag, b)
		}
	}
	t.Logf("FIGURE reads of fixed keys by phase: %s", strings.Join(lines, "; "))
	t.Logf("rolling upgrade of %d nodes took %s in all (with the build)", len(c.nodes), time.Since(testStart).Round(time.Millisecond))
}
