package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/testnode"
	"github.com/diststore/diststore/store"
)

// startNode runs a real node alone in its cluster, stopped at cleanup.
func startNode(t *testing.T) *testnode.Node {
	t.Helper()
	n, err := testnode.Start(testnode.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// nodeClient returns a client of n.
func nodeClient(t *testing.T, n *testnode.Node) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Nodes: []string{n.URL}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestBackupRestore backs up a node and restores the file into another:
// every key comes back with its value and version; a key written in the
// second cluster after the backup keeps its newer value.
func TestBackupRestore(t *testing.T) {
	from, to := startNode(t), startNode(t)
	src, dst := nodeClient(t, from), nodeClient(t, to)
	etags := map[string]string{}
	for i := range 50 {
		k := fmt.Sprintf("k/%02d", i)
		w, err := src.Put(testCtx(t), k, []byte("value "+k))
		require.NoError(t, err)
		etags[k] = w.ETag
	}
	_, err := src.Delete(testCtx(t), "k/49")
	require.NoError(t, err)
	delete(etags, "k/49")

	path := filepath.Join(t.TempDir(), "cluster.backup")
	res := runCLI(t, testSystem{}, "--node", from.URL, "backup", path)
	require.Equal(t, 0, res.code, res.stderr)
	host := strings.TrimPrefix(from.URL, "http://")
	assert.Regexp(t, `^backup of `+host+` written to `+path+`: 49 keys, 1 deleted keys remembered, \d+\.\d KiB\n$`, res.stdout)
	assert.Empty(t, res.stderr, "no progress: stderr is no terminal")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left: %v", entries)

	// Written in the second cluster after the backup was taken: newer.
	_, err = dst.Put(testCtx(t), "k/00", []byte("newer"))
	require.NoError(t, err)

	res = runCLI(t, testSystem{}, "--node", to.URL, "restore", path)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, "restored "+path+" to 127.0.0.1: 50 entries read, 49 stored, 1 older than the master's, 0 expired\n", res.stdout)
	for k, etag := range etags {
		v, err := dst.Get(testCtx(t), k)
		require.NoError(t, err, k)
		if k == "k/00" {
			assert.Equal(t, "newer", string(v.Data), "newer data wins")
			continue
		}
		assert.Equal(t, "value "+k, string(v.Data))
		assert.Equal(t, etag, v.ETag, "restored with its own version")
	}
	_, err = dst.Get(testCtx(t), "k/49")
	assert.ErrorIs(t, err, client.ErrNotFound)

	// Again: nothing is newer.
	res = runCLI(t, testSystem{}, "--node", to.URL, "restore", path)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, ": 50 entries read, 0 stored, 50 older than the master's, 0 expired\n")
}

func TestBackupRestore_Progress(t *testing.T) {
	n := startNode(t)
	c := nodeClient(t, n)
	for i := range 5 {
		_, err := c.Put(testCtx(t), fmt.Sprint("k", i), []byte("v"))
		require.NoError(t, err)
	}
	path := filepath.Join(t.TempDir(), "b.db")
	res := runCLI(t, testSystem{terminal: true}, "--node", n.URL, "backup", path)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Regexp(t, `\rbackup: \d+\.\d KiB of \d+\.\d KiB \(100%\)\n$`, res.stderr)
	res = runCLI(t, testSystem{terminal: true}, "--node", n.URL, "restore", path)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Regexp(t, `^\rrestore: \d of 5 entries \(\d+%\).*\rrestore: 5 of 5 entries \(100%\)\n$`, res.stderr)
}

func TestBackup_Errors(t *testing.T) {
	n := startNode(t)
	res := runCLI(t, testSystem{}, "--node", n.URL, "backup", filepath.Join(t.TempDir(), "no", "such", "dir", "b.db"))
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "diststore: backup of 127.0.0.1:")
	assert.Contains(t, res.stderr, "no such file or directory")

	res = runCLI(t, testSystem{}, "--node", n.URL, "backup")
	assert.Equal(t, result{code: 2, stderr: "diststore: backup: missing FILE (see diststore backup --help)\n"}, res)

	// A restore of a file that is no backup sends nothing.
	bad := filepath.Join(t.TempDir(), "bad.db")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Repeat("not a backup\n", 500)), 0o600))
	res = runCLI(t, testSystem{}, "--node", n.URL, "restore", bad)
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "diststore: restore: "+store.ErrCorrupt.Error())
	res = runCLI(t, testSystem{}, "--node", n.URL, "restore", filepath.Join(t.TempDir(), "missing.db"))
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "no such file or directory")
}

// TestSeveralNodes: with --node naming several nodes, a node that is down
// is skipped; DISTSTORE_NODE likewise.
func TestSeveralNodes(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "v")
	dead := deadNode(t)
	res := runCLI(t, testSystem{}, "--node", dead+","+n.url(), "get", "k")
	assert.Equal(t, result{code: 0, stdout: "v"}, res)
	res = runCLI(t, testSystem{env: map[string]string{envNode: dead + ", " + n.url()}}, "put", "k", "w")
	assert.Equal(t, result{code: 0, stdout: "stored on 127.0.2.1, 127.0.2.2\n"}, res)

	dead2 := deadNode(t)
	res = runCLI(t, testSystem{}, "--node", dead+","+dead2, "get", "k")
	assert.Equal(t, result{code: 2, stderr: "diststore: all 2 nodes failed: cannot reach node " + dead +
		": connection refused; cannot reach node " + dead2 + ": connection refused\n"}, res)
	res = runCLI(t, testSystem{}, "--node", ",", "get", "k")
	assert.Equal(t, result{code: 2, stderr: "diststore: --node \",\": no node named\n"}, res)
}
