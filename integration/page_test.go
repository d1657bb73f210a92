package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The node's HTML page, driven by a real headless Chromium.
//
// Chromium runs inside the tests' private network namespace (it is a child
// of the re-executed test binary), so it can reach the nodes on 127.0.2.N
// and nothing else. It is Debian's package (/usr/bin/chromium); nothing is
// downloaded. Without it the test is skipped (.ci/run installs it).
//
// GET /get/<key> answers application/octet-stream, which Chromium saves as a
// download rather than showing it; the test accepts either, and checks the
// value the user ends up with.

const (
	// chromiumPath is the browser the page test drives.
	chromiumPath = "/usr/bin/chromium"
	// envScreenshotDir, when set, is a directory where the page test keeps
	// its screenshots; otherwise they go to the test's temporary directory
	// and are kept (moved to a fresh temporary directory) only if it fails.
	envScreenshotDir = "DISTSTORE_TEST_SCREENSHOT_DIR"
	// browserStartTimeout bounds Chromium's start, browserTimeout every
	// browser action of a test after that, browserCloseTimeout its
	// graceful close at cleanup.
	browserStartTimeout = 30 * time.Second
	browserTimeout      = 60 * time.Second
	browserCloseTimeout = 10 * time.Second
)

// browser is one headless Chromium with one tab, killed at the test's
// cleanup.
type browser struct {
	ctx     context.Context // the tab's context; actions use a child with a timeout
	dir     string          // the test's browser directory (profile, HOME, log)
	logPath string          // Chromium's stdout and stderr
	shots   string          // where screenshots go
	dl      string          // where downloads go, each named by its GUID
}

// startBrowser starts Chromium headless in a fresh profile, and registers a
// cleanup that closes it, waits for its processes to exit, and kills any
// that do not.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the page test needs Debian's chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	// The browser must see only loopback (TestMain checked it once; a
	// browser is the one program here that would happily go elsewhere).
	require.NoError(t, checkPrivateNetns(), "the browser must run in the private network namespace")

	b := &browser{dir: t.TempDir()}
	profile := filepath.Join(b.dir, "profile")
	home := filepath.Join(b.dir, "home") // so Chromium writes no ~/.pki or ~/.cache
	b.dl = filepath.Join(b.dir, "downloads")
	for _, d := range []string{profile, home, b.dl} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	b.shots = os.Getenv(envScreenshotDir)
	if b.shots == "" {
		b.shots = filepath.Join(b.dir, "screenshots")
	}
	require.NoError(t, os.MkdirAll(b.shots, 0o755))
	b.logPath = filepath.Join(b.dir, "chromium.log")
	logf, err := os.Create(b.logPath)
	require.NoError(t, err)

	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // we are root in the namespace
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("no-proxy-server", true), // never a proxy from the environment
		chromedp.Flag("password-store", "basic"),
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"XDG_CACHE_HOME="+filepath.Join(home, ".cache")),
		chromedp.CombinedOutput(logf),
	)
	tabCtx, tabCancel := chromedp.NewContext(allocCtx)
	b.ctx = tabCtx

	// Cleanups run last-in first-out, so this one closes the browser before
	// the cluster's shuts the nodes down and before the temporary
	// directories go.
	t.Cleanup(func() {
		if t.Failed() {
			b.failureScreenshot(t)
		}
		closeCtx, cancel := context.WithTimeout(tabCtx, browserCloseTimeout)
		err := chromedp.Cancel(closeCtx) // graceful Browser.close; waits for the process
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, chromedp.ErrInvalidContext) {
			t.Logf("closing the browser: %v", err)
		}
		tabCancel()
		allocCancel() // kills the process if still running, and waits for it
		if pids := b.leftovers(5 * time.Second); len(pids) > 0 {
			t.Errorf("chromium processes %v still running after the browser closed; killed them", pids)
		}
		_ = logf.Close()
		if t.Failed() {
			b.dumpLog(t)
			b.keepScreenshots(t)
		}
	})

	// The first action starts the browser, and the browser lives as long as
	// that action's context: so start it on the tab's own context, bounded
	// from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tabCtx) }()
	select {
	case err := <-started:
		require.NoError(t, err, "starting %s (log %s)", chromiumPath, b.logPath)
	case <-time.After(browserStartTimeout):
		tabCancel()
		t.Fatalf("%s did not start within %s", chromiumPath, browserStartTimeout)
	}
	// Save downloads where the test can read them, and report them.
	ctx, cancel := context.WithTimeout(tabCtx, browserTimeout)
	defer cancel()
	events := true
	_, err = chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior:      cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName,
		DownloadPath:  b.dl,
		EventsEnabled: &events,
	})
	require.NoError(t, err, "browser: set download behaviour")
	return b
}

// leftovers waits up to timeout for every process started with this
// browser's profile to exit, then kills those left and returns their pids.
func (b *browser) leftovers(timeout time.Duration) []int {
	want := "--user-data-dir=" + filepath.Join(b.dir, "profile")
	find := func() []int {
		var pids []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), want) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	deadline := time.Now().Add(timeout)
	for {
		pids := find()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return pids
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs browser actions with the test's browser timeout.
func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...), "browser: %s", what)
}

// eval evaluates a JavaScript expression in the tab and decodes its result.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "browser: evaluate %s", expr)
	return v
}

// submit clicks a form's submit button, like a user, and waits for the page
// the browser ends up on (after any redirect). It returns that page's URL
// and HTTP status.
func (b *browser) submit(t *testing.T, form string) (*url.URL, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#"+form+` button[type="submit"]`)))
	require.NoError(t, err, "browser: submit form #%s", form)
	require.NotNil(t, resp, "browser: submit form #%s: no response", form)
	u, err := url.Parse(resp.URL)
	require.NoError(t, err)
	return u, resp.Status
}

// submitForValue clicks a form's submit button and returns what the user
// gets from the resulting page: its text if the browser displays it, or the
// file's content if the browser saves it as a download. url is the address
// the content came from (after any redirect).
func (b *browser) submitForValue(t *testing.T, form string) (u *url.URL, content string, downloaded bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	// Subscribe before the click, so no event is missed.
	begins := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadProgress)
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#"+form+` button[type="submit"]`)))
	if err == nil {
		require.NotNil(t, resp, "browser: submit form #%s: no response", form)
		require.Equal(t, int64(200), resp.Status, "browser: submit form #%s: page %s", form, resp.URL)
		u, err = url.Parse(resp.URL)
		require.NoError(t, err)
		return u, eval[string](t, b, `document.body.innerText`), false
	}
	// A navigation the browser turns into a download aborts.
	var le *chromedp.LoadError
	require.True(t, errors.As(err, &le), "browser: submit form #%s: %v", form, err)
	var guid string
	for ev, err := range begins {
		require.NoError(t, err, "browser: submit form #%s: page load failed (%v) and no download began", form, le)
		guid = ev.GUID
		u, err = url.Parse(ev.URL)
		require.NoError(t, err)
		break
	}
	for ev, err := range progress {
		require.NoError(t, err, "browser: download of %s", u)
		if ev.GUID != guid {
			continue
		}
		require.NotEqual(t, cdpbrowser.DownloadProgressStateCanceled, ev.State, "browser: download of %s", u)
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			break
		}
	}
	data, err := os.ReadFile(filepath.Join(b.dl, guid))
	require.NoError(t, err, "browser: downloaded file of %s", u)
	return u, string(data), true
}

// typeInto types text into a field with key events, and checks the field
// holds it.
func (b *browser) typeInto(t *testing.T, field, text string) {
	t.Helper()
	sel := chromedp.ID(field)
	b.run(t, "type into #"+field, chromedp.WaitVisible(sel), chromedp.SendKeys(sel, text))
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Value(sel))
	require.NoError(t, err)
	require.Equal(t, text, got, "#%s after typing", field)
}

// screenshot saves a full-page PNG as name and returns its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "browser: screenshot")
	path := filepath.Join(b.shots, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
	return path
}

// failureScreenshot saves what the tab shows when the test failed.
func (b *browser) failureScreenshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot of the failure: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.shots, "failure.png"), png, 0o644); err != nil {
		t.Logf("saving the failure screenshot: %v", err)
	}
}

// keepScreenshots moves a failed test's screenshots out of its temporary
// directory (which the test's cleanup removes) and logs where they are.
func (b *browser) keepScreenshots(t *testing.T) {
	if os.Getenv(envScreenshotDir) != "" {
		t.Logf("screenshots are in %s", b.shots)
		return
	}
	keep, err := os.MkdirTemp("", "diststore-page-test-")
	if err != nil {
		t.Logf("screenshots in %s are removed with the test's directory: %v", b.shots, err)
		return
	}
	entries, _ := os.ReadDir(b.shots)
	for _, e := range entries {
		_ = os.Rename(filepath.Join(b.shots, e.Name()), filepath.Join(keep, e.Name()))
	}
	t.Logf("screenshots kept in %s (set %s to choose the directory)", keep, envScreenshotDir)
}

// dumpLog prints the tail of Chromium's output, without its complaints
// that there is no D-Bus (there never is, in the namespace).
func (b *browser) dumpLog(t *testing.T) {
	out, err := os.ReadFile(b.logPath)
	if err != nil {
		return
	}
	var kept [][]byte
	for line := range bytes.Lines(out) {
		if !bytes.Contains(line, []byte(":ERROR:dbus/")) {
			kept = append(kept, line)
		}
	}
	if out = bytes.Join(kept, nil); len(bytes.TrimSpace(out)) == 0 {
		return
	}
	t.Logf("---- chromium: last %d lines of %s ----\n%s", logTail, b.logPath, lastLines(out, logTail))
}

// pageMember is one row of the page's #members table.
type pageMember struct {
	Addr, Keys, Role, Found string
}

// members reads the #members table of the page the tab shows.
func (b *browser) members(t *testing.T) []pageMember {
	t.Helper()
	rows := eval[[][]string](t, b, `Array.from(document.querySelectorAll("#members tr")).slice(1).
		map(tr => Array.from(tr.cells, td => td.innerText.trim()))`)
	var out []pageMember
	for _, r := range rows {
		require.Len(t, r, 4, "#members row %q", r)
		out = append(out, pageMember{r[0], r[1], r[2], r[3]})
	}
	return out
}

// pageMasters matches the page's "Masters: a, b (epoch N)." sentence.
var pageMasters = regexp.MustCompile(`Masters: (.*) \(epoch (\d+)\)`)

// TestPage_StoreLookupDeleteInBrowser uses the page of three different nodes
// as a user would, in a real browser: store a key with the form on one node,
// look it up with the lookup form on another, delete it with the delete form
// on the third. The key has a slash and a non-ASCII character, and the value
// markup, to check escaping from the form through the redirects to the
// displayed value.
func TestPage_StoreLookupDeleteInBrowser(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	b := startBrowser(t)
	nodeA, nodeB, nodeC := c.node(1), c.node(2), c.node(3)

	const (
		key = "greetings/café"
		val = `Grüße aus dem Browser ✓ <b>not bold</b> & "quoted"`
	)
	start := time.Now()

	// Node A's page: the cluster section, then the store form.
	b.run(t, "open node A's page", chromedp.Navigate(nodeA.baseURL()+"/"), chromedp.WaitVisible(chromedp.ID("members")))
	title := eval[string](t, b, `document.title`)
	assert.Equal(t, "diststore "+nodeA.addr, title)

	members := b.members(t)
	var addrs, pageMasterRows []string
	for _, m := range members {
		addr, self := strings.CutSuffix(m.Addr, " (this node)")
		assert.Equal(t, addr == nodeA.addr, self, "the table marks the node the page is from: %+v", m)
		m.Addr = addr
		addrs = append(addrs, m.Addr)
		if m.Role == "master" {
			pageMasterRows = append(pageMasterRows, m.Addr)
		}
	}
	assert.ElementsMatch(t, []string{nodeA.addr, nodeB.addr, nodeC.addr}, addrs, "#members lists every node: %+v", members)
	assert.ElementsMatch(t, masters, pageMasterRows, "#members marks the masters: %+v", members)
	body := eval[string](t, b, `document.body.innerText`)
	if m := pageMasters.FindStringSubmatch(body); assert.NotNil(t, m, "page names the masters:\n%s", body) {
		assert.ElementsMatch(t, masters, strings.Split(m[1], ", "), "page's Masters sentence")
	}

	b.typeInto(t, "key", key)
	b.typeInto(t, "value", val)
	u, status := b.submit(t, "store")
	assert.Equal(t, int64(200), status, "page after storing")
	assert.Equal(t, nodeA.addr+":"+strconv.Itoa(httpPort), u.Host)
	assert.Equal(t, "/", u.Path, "the store form redirects to the page")
	assert.Equal(t, key, u.Query().Get("stored"), "redirect's ?stored=")
	b.run(t, "wait for #stored", chromedp.WaitVisible(chromedp.ID("stored")))
	stored := eval[string](t, b, `document.getElementById("stored").innerText`)
	assert.Equal(t, "Stored "+key+".", strings.TrimSpace(stored), "#stored note")
	shot := b.screenshot(t, "after-store.png")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page after storing: %s", shot)
		}
	})

	// The cluster, not just node A, has it.
	for _, n := range []*node{nodeB, nodeC} {
		r := get(t, n, key)
		require.Equal(t, 200, r.code, "node %s GET /get/%s after the browser stored it: %v", n.addr, key, r)
		assert.Equal(t, val, r.body, "node %s GET /get/%s", n.addr, key)
	}
	for _, m := range masters {
		r := getLocal(t, c.byAddr(t, m), key)
		assert.Equal(t, 200, r.code, "master %s GET /getlocal/%s: %v", m, key, r)
	}

	// Node B's page: the lookup form shows the raw value.
	b.run(t, "open node B's page", chromedp.Navigate(nodeB.baseURL()+"/"), chromedp.WaitVisible(chromedp.ID("lookup-key")))
	b.typeInto(t, "lookup-key", key)
	u, got, downloaded := b.submitForValue(t, "lookup")
	assert.Equal(t, nodeB.addr+":"+strconv.Itoa(httpPort), u.Host)
	assert.Equal(t, keyPath("/get/", key), u.EscapedPath(), "the lookup form redirects to /get/<key>")
	if downloaded {
		// /get/ answers application/octet-stream, which Chromium saves
		// instead of showing.
		t.Logf("the browser saved the value as a download instead of showing it")
		assert.Equal(t, val, got, "value the browser downloaded")
	} else {
		assert.Equal(t, val, got, "value the browser shows (as text, not markup)")
		b.screenshot(t, "after-lookup.png")
	}

	// Node C's page: the delete form.
	b.run(t, "open node C's page", chromedp.Navigate(nodeC.baseURL()+"/"), chromedp.WaitVisible(chromedp.ID("delete-key")))
	b.typeInto(t, "delete-key", key)
	u, status = b.submit(t, "delete")
	assert.Equal(t, int64(200), status, "page after deleting")
	assert.Equal(t, nodeC.addr+":"+strconv.Itoa(httpPort), u.Host)
	if u.Path != "/" {
		page := eval[string](t, b, `document.body.innerText`)
		if r := get(t, nodeC, "delete"); r.code == 200 {
			t.Fatalf("the delete form's POST /delete was taken as a write of the key \"delete\" (now %q; the browser shows %q at %s), "+
				"not as a delete of %q", r.body, page, u, key)
		}
		t.Fatalf("the delete form did not redirect to the page: the browser is at %s, showing %q", u, page)
	}
	assert.Equal(t, key, u.Query().Get("deleted"), "redirect's ?deleted=")
	b.run(t, "wait for #deleted", chromedp.WaitVisible(chromedp.ID("deleted")))
	deleted := eval[string](t, b, `document.getElementById("deleted").innerText`)
	assert.Equal(t, "Deleted "+key+".", strings.TrimSpace(deleted), "#deleted note")
	t.Logf("browser part took %s", time.Since(start).Round(time.Millisecond))

	eventually(t, failoverTimeout, func() error {
		for _, n := range c.nodes {
			if r := get(t, n, key); r.code != 404 {
				return fmt.Errorf("node %s GET /get/%s after the delete: %v", n.addr, key, r)
			}
		}
		return nil
	})
}

// TestPage_KeyBrowser lists keys on a master's page in a real browser:
// the prefix form, a page of 100 links, the next page, and a link that
// leads to the key's value.
func TestPage_KeyBrowser(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	m := c.byAddr(t, masters[0])
	const count = 130
	var want []string
	for i := range count {
		k := fmt.Sprintf("browse/%03d", i)
		requirePut(t, c.node(1+i%3), k, "value of "+k)
		want = append(want, k)
	}
	const odd = "browse/zz/café&<b>" // escaped in the link and the text
	requirePut(t, c.node(2), odd, "odd value")
	want = append(want, odd)
	requirePut(t, c.node(3), "other/key", "not listed")
	b := startBrowser(t)

	b.run(t, "open the master's page", chromedp.Navigate(m.baseURL()+"/"), chromedp.WaitVisible(chromedp.ID("browse-prefix")))
	b.typeInto(t, "browse-prefix", "browse/")
	u, status := b.submit(t, "browse")
	require.Equal(t, int64(200), status)
	assert.Equal(t, "browse/", u.Query().Get("prefix"), "the form's query")
	b.run(t, "wait for #keys", chromedp.WaitVisible(chromedp.ID("keys")))
	type link struct{ Text, Href string }
	links := func() []link {
		return eval[[]link](t, b, `Array.from(document.querySelectorAll("#keys a"), a => ({Text: a.innerText, Href: a.getAttribute("href")}))`)
	}
	first := links()
	require.Len(t, first, 100, "a page of 100 keys")
	for i, l := range first {
		assert.Equal(t, want[i], l.Text)
		assert.Equal(t, keyPath("/get/", want[i]), l.Href)
	}
	b.screenshot(t, "key-browser.png")

	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("keys-next")))
	cancel()
	require.NoError(t, err, "browser: follow the next page link")
	require.Equal(t, int64(200), resp.Status)
	second := links()
	require.Len(t, second, len(want)-100, "the rest, without other/key")
	for i, l := range second {
		assert.Equal(t, want[100+i], l.Text)
		assert.Equal(t, keyPath("/get/", want[100+i]), l.Href)
	}
	assert.False(t, eval[bool](t, b, `document.getElementById("keys-next") !== null`), "the last page has no next link")

	// The odd key's link leads to its value.
	got := b.followForValue(t, `#keys a[href="`+keyPath("/get/", odd)+`"]`)
	assert.Equal(t, "odd value", got)
}

// followForValue clicks the link sel and returns the value the user gets:
// the page's text, or the file the browser saved.
func (b *browser) followForValue(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	begins := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadProgress)
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err == nil {
		require.Equal(t, int64(200), resp.Status, "browser: %s", resp.URL)
		return eval[string](t, b, `document.body.innerText`)
	}
	var le *chromedp.LoadError
	require.True(t, errors.As(err, &le), "browser: click %s: %v", sel, err)
	var guid string
	for ev, err := range begins {
		require.NoError(t, err)
		guid = ev.GUID
		break
	}
	for ev, err := range progress {
		require.NoError(t, err)
		if ev.GUID == guid && ev.State == cdpbrowser.DownloadProgressStateCompleted {
			break
		}
	}
	data, err := os.ReadFile(filepath.Join(b.dl, guid))
	require.NoError(t, err)
	return string(data)
}
