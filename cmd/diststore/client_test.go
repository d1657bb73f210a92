package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/internal/nodecfg"
)

func TestClient_Do(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "value")
	base, err := nodecfg.ParseNode(n.url())
	require.NoError(t, err)
	c := newClient(base, 5*time.Second)
	defer c.close()

	resp, err := c.do(context.Background(), request{op: "get", method: http.MethodGet, path: keyPath("/get/", "k"), limit: 5})
	require.NoError(t, err)
	assert.Equal(t, "value", string(resp.body))
	assert.Equal(t, `"v1"`, resp.header.Get("ETag"))

	_, err = c.do(context.Background(), request{op: "get", method: http.MethodGet, path: keyPath("/get/", "k"), limit: 4})
	assert.EqualError(t, err, "get: node "+base.Host+" answered more than 4 bytes")

	_, err = c.do(context.Background(), request{op: `get "x"`, method: http.MethodGet, path: keyPath("/get/", "x"), limit: 5})
	var ne *nodeError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, http.StatusNotFound, ne.Code)
	assert.ErrorIs(t, notFound(err), errNotFound)
	assert.Equal(t, err.Error(), notFound(err).Error())
}

func TestClient_Canceled(t *testing.T) {
	n := newFakeNode(t)
	base, err := nodecfg.ParseNode(n.url())
	require.NoError(t, err)
	c := newClient(base, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.do(ctx, request{op: "list", method: http.MethodGet, path: "/list", limit: 10})
	assert.EqualError(t, err, "cannot reach node "+n.url()+": interrupted")
}

func TestReason(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://x", Err: fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)}
	assert.Equal(t, "connection refused", reason(refused))
	assert.Equal(t, "timed out", reason(fmt.Errorf("x: %w", context.DeadlineExceeded)))
	assert.Equal(t, "something else", reason(&url.Error{Op: "Get", URL: "http://x", Err: errors.New("something else")}))
}

func TestKeyPath(t *testing.T) {
	assert.Equal(t, "/get/a%2Fb%20c", keyPath("/get/", "a/b c"))
	assert.Equal(t, "/%25", keyPath("/", "%"))
}

func TestSizeString(t *testing.T) {
	assert.Equal(t, "64 MiB", sizeString(64<<20))
	assert.Equal(t, "4 KiB", sizeString(4<<10))
	assert.Equal(t, "1000 bytes", sizeString(1000))
}
