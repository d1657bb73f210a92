package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/httpapi"
)

func TestServer_Metrics(t *testing.T) {
	srv, _ := newTestServer(t, httpapi.Options{})
	const secret = "very-secret-key-name"
	require.Equal(t, http.StatusOK, serve(t, srv, "POST", "/"+secret, strings.NewReader("v"), nil).Code)
	require.Equal(t, http.StatusOK, serve(t, srv, "GET", "/get/"+secret, nil, nil).Code)
	require.Equal(t, http.StatusNotFound, serve(t, srv, "GET", "/get/absent", nil, nil).Code)
	require.Equal(t, http.StatusBadRequest, serve(t, srv, "GET", "/get/a%20b", nil, nil).Code)

	rec := serve(t, srv, "GET", "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	for _, want := range []string{
		`diststore_http_requests_total{code="200",route="put"} 1`,
		`diststore_http_requests_total{code="200",route="get"} 1`,
		`diststore_http_requests_total{code="404",route="get"} 1`,
		`diststore_http_requests_total{code="400",route="get"} 1`,
		`diststore_http_request_duration_seconds_bucket{route="get",le="0.0005"}`,
		`diststore_http_request_duration_seconds_bucket{route="get",le="4.096"}`,
		`diststore_keys 1`,
		`diststore_reads_total{result="local"}`,
		`diststore_multicast_datagrams_total{direction="sent"}`,
		`diststore_master{synced="false"}`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, secret, "a key is never a label")
}

// TestServer_Metrics_RouteIsTheHandlers: a request is counted under the
// route that served it. POST /list stores the key "list": it is a put.
func TestServer_Metrics_RouteIsTheHandlers(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	require.Equal(t, http.StatusOK, serve(t, srv, "POST", "/list", strings.NewReader("v"), nil).Code)
	require.Equal(t, http.StatusOK, serve(t, srv, "POST", "/status", strings.NewReader("v"), nil).Code)
	require.Equal(t, http.StatusOK, serve(t, srv, "GET", "/list", nil, nil).Code)
	require.Equal(t, http.StatusMethodNotAllowed, serve(t, srv, "GET", "/delete", nil, nil).Code)
	calls := node.putCalls()
	require.Len(t, calls, 2)
	assert.Equal(t, "list", calls[0].Key)
	assert.Equal(t, "status", calls[1].Key)

	body := serve(t, srv, "GET", "/metrics", nil, nil).Body.String()
	assert.Contains(t, body, `diststore_http_requests_total{code="200",route="put"} 2`)
	assert.Contains(t, body, `diststore_http_requests_total{code="200",route="list"} 1`)
	assert.Contains(t, body, `diststore_http_requests_total{code="405",route="other"} 1`)
	assert.NotContains(t, body, `route="status"`)
}
