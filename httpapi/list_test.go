package httpapi_test

import (
	"bufio"
	"context"
	"errors"
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
