package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/client"
)

// fake is a node's HTTP API as far as a test needs it: it answers every
// request with handle, and counts the requests it got.
type fake struct {
	srv *httptest.Server
	mu  sync.Mutex // guards the fields below
	got []*http.Request
	// bodies are the bodies of got, read whole.
	bodies []string
}

func newFake(t *testing.T, handle http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, r)
		f.bodies = append(f.bodies, string(body))
		f.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func (f *fake) last() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[len(f.got)-1]
}

// host is the fake's host:port.
func (f *fake) host() string { return f.srv.Listener.Addr().String() }

// deadNode returns the URL of a loopback port nothing listens on.
func deadNode(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// value answers every request with v and an ETag.
func value(v string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("ETag", `"1-a"`)
		w.Header().Set("X-Diststore-Source", "local")
		_, _ = io.WriteString(w, v)
	}
}

// status answers every request with code and msg.
func status(code int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, msg, code) }
}

// hang answers nothing until the request ends.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestNew_Errors(t *testing.T) {
	_, err := client.New(client.Config{})
	assert.EqualError(t, err, "client: no node given")
	_, err = client.New(client.Config{Nodes: []string{"ftp://x"}})
	assert.EqualError(t, err, `client: node "ftp://x": scheme "ftp": want http or https`)
	c := newClient(t, client.Config{Nodes: []string{" 127.0.2.1", "h:9000", "http://h2"}})
	assert.Equal(t, []string{"http://127.0.2.1:8181", "http://h:9000", "http://h2:8181"}, c.Nodes())
}

// TestClient_NextNodeAfterAFailure: a node that refuses the connection,
// answers 5xx or does not answer in time is skipped for the next; the
// node that answered is asked first next time.
func TestClient_NextNodeAfterAFailure(t *testing.T) {
	good := newFake(t, value("v"))
	for name, bad := range map[string]string{
		"refused":  deadNode(t),
		"503":      newFake(t, status(503, "node shutting down")).srv.URL,
		"500":      newFake(t, status(500, "internal error: see the node's log")).srv.URL,
		"time out": newFake(t, hang).srv.URL,
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, client.Config{Nodes: []string{bad, good.srv.URL}, Timeout: 300 * time.Millisecond})
			before := good.requests()
			v, err := c.Get(ctx(t), "k")
			require.NoError(t, err)
			assert.Equal(t, "v", string(v.Data))
			assert.Equal(t, `"1-a"`, v.ETag)
			assert.Equal(t, good.host(), v.Node)

			start := time.Now()
			_, err = c.Put(ctx(t), "k", []byte("w"))
			require.NoError(t, err, "an unconditional write goes to the next node too")
			assert.Less(t, time.Since(start), 300*time.Millisecond, "the node that answered is asked first")
			assert.Equal(t, before+2, good.requests())
		})
	}
}

// TestClient_DecidedAnswersAreFinal: a 4xx is the cluster's answer: no
// other node is asked.
func TestClient_DecidedAnswersAreFinal(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
	}{
		{404, client.ErrNotFound},
		{412, client.ErrConditionFailed},
		{409, client.ErrConflict},
		{413, client.ErrTooLarge},
		{400, client.ErrBadRequest},
		{401, client.ErrUnauthorized},
		{403, client.ErrForbidden},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			first := newFake(t, status(tc.code, "the answer"))
			second := newFake(t, value("v"))
			c := newClient(t, client.Config{Nodes: []string{first.srv.URL, second.srv.URL}})
			_, err := c.Get(ctx(t), "k")
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, client.ErrUnavailable)
			var se *client.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.code, se.Code)
			assert.Equal(t, fmt.Sprintf(`get "k": node %s answered %d: the answer`, first.host(), tc.code), err.Error())
			assert.Zero(t, second.requests())
		})
	}
}

// TestClient_ConditionalWriteNotRetried: a conditional write that may
// have been applied is not sent again: its outcome is unknown. One that
// never left (a refused connection) goes to the next node.
func TestClient_ConditionalWriteNotRetried(t *testing.T) {
	stored := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("ETag", `"2-a"`)
		w.Header().Set("X-Diststore-Masters", "127.0.2.1,127.0.2.2")
		_, _ = io.WriteString(w, "stored on 127.0.2.1, 127.0.2.2\n")
	}
	for name, bad := range map[string]http.HandlerFunc{
		"503":      status(503, "no master can take the write: masters kept failing"),
		"504":      status(504, "context deadline exceeded"),
		"time out": hang,
	} {
		t.Run(name, func(t *testing.T) {
			first, second := newFake(t, bad), newFake(t, stored)
			c := newClient(t, client.Config{Nodes: []string{first.srv.URL, second.srv.URL}, Timeout: 300 * time.Millisecond})
			for _, write := range []func() error{
				func() error { _, err := c.CompareAndSwap(ctx(t), "k", `"1-a"`, []byte("v")); return err },
				func() error { _, err := c.Put(ctx(t), "k", []byte("v"), client.IfAbsent()); return err },
				func() error { _, err := c.Delete(ctx(t), "k", client.IfMatch("1-a")); return err },
			} {
				err := write()
				require.ErrorIs(t, err, client.ErrUnknownOutcome)
				assert.Contains(t, err.Error(), "may or may not have been applied")
			}
			assert.Zero(t, second.requests(), "never sent twice")
			assert.Equal(t, `"1-a"`, first.last().Header.Get("If-Match"), "an ETag without quotes is quoted")
		})
	}
	t.Run("refused", func(t *testing.T) {
		second := newFake(t, stored)
		c := newClient(t, client.Config{Nodes: []string{deadNode(t), second.srv.URL}})
		w, err := c.CompareAndSwap(ctx(t), "k", `"1-a"`, []byte("v"))
		require.NoError(t, err)
		assert.Equal(t, `"2-a"`, w.ETag)
		assert.Equal(t, []string{"127.0.2.1", "127.0.2.2"}, w.Masters)
		assert.Equal(t, "stored on 127.0.2.1, 127.0.2.2", w.Message)
		assert.Equal(t, `"1-a"`, second.last().Header.Get("If-Match"))
	})
}

// TestClient_EveryNodeFails: the error names every node's failure and is
// ErrUnavailable; with one node, that node's error alone.
func TestClient_EveryNodeFails(t *testing.T) {
	dead := deadNode(t)
	busy := newFake(t, status(503, "not ready: masters not known yet"))
	c := newClient(t, client.Config{Nodes: []string{dead, busy.srv.URL}})
	_, err := c.Status(ctx(t))
	require.ErrorIs(t, err, client.ErrUnavailable)
	assert.Equal(t, "all 2 nodes failed: cannot reach node "+dead+": connection refused; status: node "+busy.host()+
		" answered 503: not ready: masters not known yet", err.Error())

	c = newClient(t, client.Config{Nodes: []string{dead}})
	_, err = c.Get(ctx(t), "k")
	assert.EqualError(t, err, "cannot reach node "+dead+": connection refused")
	var re *client.ReachError
	assert.ErrorAs(t, err, &re)
}

func TestClient_Canceled(t *testing.T) {
	slow := newFake(t, hang)
	other := newFake(t, value("v"))
	c := newClient(t, client.Config{Nodes: []string{slow.srv.URL, other.srv.URL}, Timeout: -1})
	cctx, cancel := context.WithCancel(ctx(t))
	go func() {
		for slow.requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Get(cctx, "k")
	assert.EqualError(t, err, "cannot reach node "+slow.srv.URL+": interrupted")
	assert.Zero(t, other.requests(), "a caller that gave up asks no other node")
}

func TestClient_TimeoutNamed(t *testing.T) {
	slow := newFake(t, hang)
	c := newClient(t, client.Config{Nodes: []string{slow.srv.URL}, Timeout: 100 * time.Millisecond})
	_, err := c.Get(ctx(t), "k")
	assert.EqualError(t, err, "cannot reach node "+slow.srv.URL+": timed out after 100ms")
}

func TestClient_AnswerTooLarge(t *testing.T) {
	big := newFake(t, value(strings.Repeat("x", 11)))
	c := newClient(t, client.Config{Nodes: []string{big.srv.URL}, MaxValueSize: 10})
	_, err := c.Get(ctx(t), "k")
	require.ErrorIs(t, err, client.ErrAnswerTooLarge)
	assert.Equal(t, `get "k": node `+big.host()+" answered more than 10 bytes", err.Error())
}

func TestClient_TokenAndEscaping(t *testing.T) {
	f := newFake(t, value("v"))
	c := newClient(t, client.Config{Nodes: []string{f.srv.URL}, Token: "0123456789abcdef"})
	_, err := c.Get(ctx(t), "a/b c")
	require.NoError(t, err)
	r := f.last()
	assert.Equal(t, "Bearer 0123456789abcdef", r.Header.Get("Authorization"))
	assert.Equal(t, "/get/a%2Fb%20c", r.URL.EscapedPath())

	_, err = c.Put(ctx(t), "k", []byte("v"), client.WithTTL(30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, "ttl=30s", f.last().URL.RawQuery)

	_, err = c.Get(ctx(t), "")
	assert.ErrorIs(t, err, client.ErrBadRequest)
	_, err = c.Put(ctx(t), "k", nil, client.IfAbsent(), client.IfMatch("*"))
	assert.ErrorIs(t, err, client.ErrBadRequest)
}

// TestClient_Keys reads every key a page at a time, passing each page's
// continuation as the next one's after.
func TestClient_Keys(t *testing.T) {
	all := []string{"a/1", "a/2", "a/3", "a/4", "a/5"}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var page []string
		for _, k := range all {
			if strings.HasPrefix(k, q.Get("prefix")) && k > q.Get("after") && len(page) < 2 {
				page = append(page, k)
			}
		}
		if len(page) == 2 && page[1] != all[len(all)-1] {
			w.Header().Set("X-Diststore-Next", url.QueryEscape(page[1]))
		}
		for _, k := range page {
			fmt.Fprintln(w, k)
		}
	})
	c := newClient(t, client.Config{Nodes: []string{f.srv.URL}})
	var got []string
	for k, err := range c.Keys(ctx(t), "a/") {
		require.NoError(t, err)
		got = append(got, k)
	}
	assert.Equal(t, all, got)
	assert.Equal(t, 3, f.requests())
	assert.Equal(t, "after=a%2F4&limit=1000&prefix=a%2F", f.last().URL.RawQuery)

	_, err := c.List(ctx(t), client.ListOptions{Limit: client.MaxListLimit + 1})
	assert.ErrorIs(t, err, client.ErrBadRequest)
}

// statusDoc is a /status naming masters, as JSON.
func statusDoc(t *testing.T, masters ...string) string {
	t.Helper()
	st := api.Status{Masters: masters, Ready: true}
	for _, m := range masters {
		st.Members = append(st.Members, api.MemberStatus{Addr: m, Master: true, Synced: true})
	}
	b, err := json.Marshal(st)
	require.NoError(t, err)
	return string(b)
}

// TestClient_OpenBackup reads a backup from the master the status names,
// whole; a stream cut short is an error, not a smaller file.
func TestClient_OpenBackup(t *testing.T) {
	var cut bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status":
			_, _ = io.WriteString(w, statusDoc(t, "127.0.0.1"))
		case "/backup":
			w.Header().Set("Content-Length", "10")
			if cut {
				_, _ = io.WriteString(w, "short")
				return
			}
			_, _ = io.WriteString(w, "0123456789")
		}
	})
	c := newClient(t, client.Config{Nodes: []string{f.srv.URL}})
	b, err := c.OpenBackup(ctx(t))
	require.NoError(t, err)
	data, err := io.ReadAll(b)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	assert.Equal(t, "0123456789", string(data))
	assert.Equal(t, int64(10), b.Size)
	assert.Equal(t, f.host(), b.Node)

	cut = true
	b, err = c.OpenBackup(ctx(t))
	require.NoError(t, err)
	_, err = io.ReadAll(b)
	_ = b.Close()
	var re *client.ReachError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.Reading)
}

// routes is a Transport that hands each request to the handler of its
// host, in the process: several nodes on one port, with no sockets.
type routes map[string]http.Handler

func (rt routes) RoundTrip(r *http.Request) (*http.Response, error) {
	h, ok := rt[r.URL.Host]
	if !ok {
		return nil, fmt.Errorf("dial tcp %s: connection refused", r.URL.Host)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestClient_Restore_FollowsTheMasters restores to both masters; when one
// is replaced half way, to its successor too.
func TestClient_Restore_FollowsTheMasters(t *testing.T) {
	var mu sync.Mutex
	masters := []string{"10.0.0.1", "10.0.0.2"}
	restored := map[string]int{}
	master := func(addr string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			switch r.URL.Path {
			case "/status":
				_, _ = io.WriteString(w, statusDoc(t, masters...))
			case "/admin/restore":
				body, _ := io.ReadAll(r.Body)
				if addr == "10.0.0.2" {
					// Replaced while the restore ran.
					masters = []string{"10.0.0.1", "10.0.0.3"}
					http.Error(w, "restore: not a synced master: restore to the masters (10.0.0.1,10.0.0.3)", http.StatusConflict)
					return
				}
				restored[addr]++
				_ = json.NewEncoder(w).Encode(api.RestoreResult{Node: addr, Read: len(body)})
			}
		})
	}
	c := newClient(t, client.Config{
		Nodes:     []string{"10.0.0.1:8181"},
		Transport: routes{"10.0.0.1:8181": master("10.0.0.1"), "10.0.0.2:8181": master("10.0.0.2"), "10.0.0.3:8181": master("10.0.0.3")},
	})
	opened := 0
	res, err := c.Restore(ctx(t), func() (io.ReadCloser, error) {
		opened++
		return io.NopCloser(strings.NewReader("entries")), nil
	})
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, "10.0.0.1", res[0].Node)
	assert.Equal(t, "10.0.0.3", res[1].Node)
	assert.Equal(t, 7, res[1].Read)
	assert.Equal(t, map[string]int{"10.0.0.1": 1, "10.0.0.3": 1}, restored, "each master once")
	assert.Equal(t, 3, opened)

	// A malformed stream is the master's decision: returned at once.
	c = newClient(t, client.Config{Nodes: []string{"10.0.0.1:8181"}, Transport: routes{"10.0.0.1:8181": http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/status" {
				_, _ = io.WriteString(w, statusDoc(t, "10.0.0.1"))
				return
			}
			http.Error(w, "restore: malformed dump: cut short", http.StatusBadRequest)
		})}})
	_, err = c.Restore(ctx(t), func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil })
	require.ErrorIs(t, err, client.ErrBadRequest)
	assert.EqualError(t, err, "restore: node 10.0.0.1:8181 answered 400: restore: malformed dump: cut short")
}
