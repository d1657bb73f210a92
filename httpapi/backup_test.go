package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/store"
)

func TestServer_Backup(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.backup = []byte("a bbolt file")
	rec := serve(t, srv, http.MethodGet, "/backup", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "a bbolt file", rec.Body.String())
	assert.Equal(t, "12", rec.Header().Get("Content-Length"))
	assert.Equal(t, httpapi.BackupContentType, rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Header().Get("Content-Disposition"), `filename="diststore-10.0.0.3.db"`)

	rec = serve(t, srv, http.MethodHead, "/backup", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.Equal(t, "12", rec.Header().Get("Content-Length"))
}

func TestServer_Backup_Refused(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.backupErr = fmt.Errorf("%w: back up a master (10.0.0.1,10.0.0.2)", cluster.ErrNotMaster)
	rec := serve(t, srv, http.MethodGet, "/backup", nil, nil)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "not a synced master: back up a master (10.0.0.1,10.0.0.2)\n", rec.Body.String())

	node.backupErr = cluster.ErrNoBackup
	rec = serve(t, srv, http.MethodGet, "/backup", nil, nil)
	assert.Equal(t, http.StatusNotImplemented, rec.Code)
}

// TestServer_Backup_StreamsAreCapped: a backup holds a read transaction
// open while its client reads; more than BackupStreams at once are 503.
func TestServer_Backup_StreamsAreCapped(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{BackupStreams: 1})
	node.backup = bytes.Repeat([]byte("x"), 8<<20) // more than the socket buffers hold
	ts, client := startServer(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/backup", nil)
	require.NoError(t, err)
	first, err := client.Do(req) // its body not read yet: the copy waits
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, first.StatusCode)

	resp, err := client.Get(ts.URL + "/backup")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "busy: 1 backups are being served\n", string(body))

	n, err := io.Copy(io.Discard, first.Body)
	first.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(8<<20), n, "the first copy is served whole")
}

// TestServer_Backup_AbsoluteDeadline: a backup whose client reads too
// slowly is cut at DumpTimeout, and the client sees it cut.
func TestServer_Backup_AbsoluteDeadline(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{DumpTimeout: 200 * time.Millisecond})
	node.backup = bytes.Repeat([]byte("x"), 32<<20)
	ts, client := startServer(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/backup", nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var got int64
	var rerr error
	for rerr == nil {
		var n int
		n, rerr = resp.Body.Read(buf)
		got += int64(n)
		time.Sleep(time.Millisecond) // a slow reader: the point of the test
	}
	assert.Less(t, got, int64(32<<20))
	assert.ErrorIs(t, rerr, io.ErrUnexpectedEOF, "a cut copy reads as cut, not as a whole file")
}

// restoreBody is a dump of entries, as `diststore restore` sends.
func restoreBody(t testing.TB, entries map[string]store.Entry, keys ...string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	require.NoError(t, store.WriteDumpHeader(bw))
	for _, k := range keys {
		require.NoError(t, store.WriteDumpEntry(bw, k, entries[k], true))
	}
	require.NoError(t, store.WriteDumpEnd(bw))
	require.NoError(t, bw.Flush())
	return &buf
}

func TestServer_Restore(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	older := store.Version{Clock: testVersion.Clock - 1, Node: 1}
	newer := store.Version{Clock: testVersion.Clock + 1, Node: 1}
	node.set("held", []byte("held"), testVersion)
	body := restoreBody(t, map[string]store.Entry{
		"held": {Value: []byte("older"), Version: older},
		"new":  {Value: []byte("restored"), Version: newer},
	}, "held", "new")
	rec := serve(t, srv, http.MethodPost, "/admin/restore", body, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var res api.RestoreResult
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	assert.Equal(t, api.RestoreResult{Node: "10.0.0.3", Read: 2, Applied: 1, Older: 1}, res)
	e, _ := node.entry("held")
	assert.Equal(t, "held", string(e.Value), "newer data wins")
	e, _ = node.entry("new")
	assert.Equal(t, "restored", string(e.Value))

	// Not a dump: 400, naming what was read.
	rec = serve(t, srv, http.MethodPost, "/admin/restore", strings.NewReader("held older\n"), nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "malformed dump: header \"held older\" (after 0 entries read, 0 stored)\n", rec.Body.String())

	// A master no more: 409.
	node.restoreHook = func(context.Context, io.Reader) (api.RestoreResult, error) {
		return api.RestoreResult{}, fmt.Errorf("restore: %w: restore to the masters (10.0.0.1,10.0.0.2)", cluster.ErrNotMaster)
	}
	rec = serve(t, srv, http.MethodPost, "/admin/restore", restoreBody(t, nil), nil)
	assert.Equal(t, http.StatusConflict, rec.Code)

	// POST /restore is still a write of the key "restore".
	rec = serve(t, srv, http.MethodPost, "/restore", strings.NewReader("a value"), nil)
	require.Equal(t, http.StatusOK, rec.Code)
	e, ok := node.entry("restore")
	require.True(t, ok)
	assert.Equal(t, "a value", string(e.Value))
}

func TestServer_Restore_OneAtATime(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	started, release := make(chan struct{}), make(chan struct{})
	node.restoreHook = func(ctx context.Context, r io.Reader) (api.RestoreResult, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return api.RestoreResult{}, nil
	}
	done := make(chan int)
	go func() {
		done <- serve(t, srv, http.MethodPost, "/admin/restore", restoreBody(t, nil), nil).Code
	}()
	<-started
	rec := serve(t, srv, http.MethodPost, "/admin/restore", restoreBody(t, nil), nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "busy: 1 restores are running\n", rec.Body.String())
	close(release)
	assert.Equal(t, http.StatusOK, <-done)
}

// TestServer_BackupAndRestore_NeedAReadWriteToken: with client tokens, a
// backup and a restore need the read-write token; a read-only one is 403.
func TestServer_BackupAndRestore_NeedAReadWriteToken(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{Tokens: testTokens(t)})
	node.backup = []byte("file")
	for _, tc := range []struct {
		method, path string
	}{{http.MethodGet, "/backup"}, {http.MethodPost, "/admin/restore"}} {
		rec := serve(t, srv, tc.method, tc.path, restoreBody(t, nil), nil)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, tc.path)
		rec = serve(t, srv, tc.method, tc.path, restoreBody(t, nil), hdr("Authorization", "Bearer "+roToken))
		assert.Equal(t, http.StatusForbidden, rec.Code, tc.path)
		rec = serve(t, srv, tc.method, tc.path, restoreBody(t, nil), hdr("Authorization", "Bearer "+rwToken))
		assert.Equal(t, http.StatusOK, rec.Code, "%s: %s", tc.path, rec.Body.String())
	}
}
