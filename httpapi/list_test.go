package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/httpapi"
)

// TestServer_List_Chunks: keys in several chunks make one list, a key per
// line, in the order the node lists them.
func TestServer_List_Chunks(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	for _, k := range []string{"e", "d", "c", "b", "a"} { // 3 chunks of the fake
		node.set(k, []byte("v"), testVersion)
	}
	rec := serve(t, srv, http.MethodGet, "/list", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "a\nb\nc\nd\ne\n", rec.Body.String())
}

// TestServer_List_StreamsChunkByChunk: a chunk reaches the client before
// the node lists the next one.
func TestServer_List_StreamsChunkByChunk(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	next := make(chan struct{})
	node.setListHook(func(fn func([]string) error) error {
		if err := fn([]string{"a", "b"}); err != nil {
			return err
		}
		select {
		case <-next:
		case <-time.After(5 * time.Second):
			return errors.New("the test never asked for the next chunk")
		}
		return fn([]string{"c"})
	})
	ts, client := startServer(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/list", nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"a\n", "b\n"} {
		line, err := br.ReadString('\n')
		require.NoError(t, err, "the first chunk is not sent while the node is between chunks")
		assert.Equal(t, want, line)
	}
	close(next)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "c\n", string(rest))
}

// TestServer_List_StopsWhenTheClientGoes: a client that stops reading and
// closes its connection ends the node's walk with an error.
func TestServer_List_StopsWhenTheClientGoes(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	const most = 1_000_000 // ~6 GB of keys: more than any socket buffers
	chunk := make([]string, 64)
	for i := range chunk {
		chunk[i] = strings.Repeat("k", 99)
	}
	ended := make(chan error, 1)
	chunks := 0
	node.setListHook(func(fn func([]string) error) error {
		for chunks = 0; chunks < most; chunks++ {
			if err := fn(chunk); err != nil {
				ended <- err
				return err
			}
		}
		ended <- nil
		return nil
	})
	ts, client := startServer(t, srv)
	resp, err := client.Get(ts.URL + "/list")
	require.NoError(t, err)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, chunk[0]+"\n", line)
	require.NoError(t, resp.Body.Close()) // before the end: closes the connection

	select {
	case err := <-ended:
		require.Error(t, err, "the walk ran to its end")
		assert.Less(t, chunks, most)
	case <-time.After(5 * time.Second):
		t.Fatal("the walk goes on after the client went away")
	}
}

// TestServer_List_AbsoluteDeadline: a list that runs past DumpTimeout is
// cut, however steadily it writes.
func TestServer_List_AbsoluteDeadline(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{DumpTimeout: 100 * time.Millisecond})
	var chunks int
	var cut error
	node.setListHook(func(fn func([]string) error) error {
		for range 1000 {
			if cut = fn([]string{"k"}); cut != nil {
				return cut
			}
			chunks++
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	rec := serve(t, srv, http.MethodGet, "/list", nil, nil)
	require.Error(t, cut, "the list was cut")
	assert.Less(t, chunks, 1000)
	assert.Equal(t, chunks, strings.Count(rec.Body.String(), "\n"))
}

// TestServer_List_NodeError: a node that fails before any key answers with
// an error; after some keys, the response is aborted, not ended as if the
// list were whole.
func TestServer_List_NodeError(t *testing.T) {
	errStore := errors.New("store is closed")
	t.Run("BeforeAnyKey", func(t *testing.T) {
		srv, node := newTestServer(t, httpapi.Options{})
		node.setListHook(func(func([]string) error) error { return errStore })
		rec := serve(t, srv, http.MethodGet, "/list", nil, nil)
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.NotContains(t, rec.Body.String(), errStore.Error(), "internal errors stay in the log")
	})
	t.Run("AfterSomeKeys", func(t *testing.T) {
		srv, node := newTestServer(t, httpapi.Options{})
		node.setListHook(func(fn func([]string) error) error {
			if err := fn([]string{"a", "b"}); err != nil {
				return err
			}
			return errStore
		})
		ts, client := startServer(t, srv)
		resp, err := client.Get(ts.URL + "/list")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.Error(t, err, "the client can tell the list is not whole")
		assert.Equal(t, "a\nb\n", string(body))
	})
}

// TestServer_List_Head answers without walking the keys.
func TestServer_List_Head(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.setListHook(func(func([]string) error) error {
		t.Error("HEAD /list walked the keys")
		return nil
	})
	rec := serve(t, srv, http.MethodHead, "/list", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"))
	assert.Empty(t, rec.Body.String())
}

// TestServer_List_Pages: with ?prefix=, ?after= or ?limit=, a page of
// keys in order, and X-Diststore-Next to continue from while more follow.
func TestServer_List_Pages(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	for _, k := range []string{"a", "app/1", "app/2", "app/3", "apple", "b", "app", "ap", "é/1"} {
		node.set(k, []byte("v"), testVersion)
	}
	page := func(query string) (string, string) {
		t.Helper()
		rec := serve(t, srv, http.MethodGet, "/list?"+query, nil, nil)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", query, rec.Body.String())
		return rec.Body.String(), rec.Header().Get(httpapi.NextHeader)
	}
	body, next := page("prefix=app/")
	assert.Equal(t, "app/1\napp/2\napp/3\n", body)
	assert.Empty(t, next, "one page holds them all")

	body, next = page("prefix=app&limit=2")
	assert.Equal(t, "app\napp/1\n", body, "the prefix itself is a key with the prefix")
	assert.Equal(t, "app%2F1", next)
	body, next = page("prefix=app&limit=2&after=" + next)
	assert.Equal(t, "app/2\napp/3\n", body)
	assert.Equal(t, "app%2F3", next)
	body, next = page("prefix=app&limit=2&after=" + next)
	assert.Equal(t, "apple\n", body)
	assert.Empty(t, next)

	body, next = page("limit=3")
	assert.Equal(t, "a\nap\napp\n", body)
	assert.Equal(t, "app", next)
	body, _ = page("after=apple")
	assert.Equal(t, "b\né/1\n", body)
	body, next = page("prefix=%C3%A9")
	assert.Equal(t, "é/1\n", body)
	assert.Empty(t, next)
	body, _ = page("prefix=zzz")
	assert.Empty(t, body)

	// Plain GET /list is every key, as before.
	rec := serve(t, srv, http.MethodGet, "/list", nil, nil)
	assert.Equal(t, "a\nap\napp\napp/1\napp/2\napp/3\napple\nb\né/1\n", rec.Body.String())
	assert.Empty(t, rec.Header().Get(httpapi.NextHeader))
}

// TestServer_List_PageStopsPastThePrefix: a page walks from the prefix on
// and stops at the first key past it, not at the end of the keys.
func TestServer_List_PageStopsPastThePrefix(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	for i := range 100 {
		node.set(fmt.Sprintf("k%03d", i), []byte("v"), testVersion)
	}
	node.set("j", []byte("v"), testVersion)
	rec := serve(t, srv, http.MethodGet, "/list?prefix=k01", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, 10, strings.Count(rec.Body.String(), "\n"))
	node.mu.Lock()
	after := node.listAfter[len(node.listAfter)-1]
	node.mu.Unlock()
	assert.Less(t, after, "k01")
	assert.Greater(t, after, "k00~", "the walk starts just before the prefix, not at the first key")
}

func TestServer_List_BadPage(t *testing.T) {
	srv, _ := newTestServer(t, httpapi.Options{})
	for query, want := range map[string]string{
		"limit=0":      "bad request: limit \"0\": want a number from 1 to 10000\n",
		"limit=10001":  "bad request: limit \"10001\": want a number from 1 to 10000\n",
		"limit=x":      "bad request: limit \"x\": want a number from 1 to 10000\n",
		"prefix=a%20b": "bad request: prefix: bad key: contains whitespace or control character U+0020\n",
		"after=a%0Ab":  "bad request: after: bad key: contains whitespace or control character U+000A\n",
	} {
		rec := serve(t, srv, http.MethodGet, "/list?"+query, nil, nil)
		assert.Equal(t, http.StatusBadRequest, rec.Code, query)
		assert.Equal(t, want, rec.Body.String(), query)
	}
}
