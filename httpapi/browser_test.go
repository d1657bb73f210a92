package httpapi_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/store"
)

// TestServer_CrossOriginWritesRefused: a web page on another origin that a
// LAN user opens cannot write or delete keys through the user's browser;
// the page itself, and clients that are not browsers, still can.
func TestServer_CrossOriginWritesRefused(t *testing.T) {
	evil := hdr("Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
	for _, tc := range []struct {
		name, method, target string
		body                 func() (string, string) // body, content type
	}{
		{"form post", "POST", "/", func() (string, string) { return "key=k&value=v", "application/x-www-form-urlencoded" }},
		{"delete form", "POST", "/delete", func() (string, string) { return "key=k", "application/x-www-form-urlencoded" }},
		{"raw post", "POST", "/k", func() (string, string) { return "v", "text/plain" }},
		{"delete", "DELETE", "/k", func() (string, string) { return "", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("k", []byte("old"), store.Version{Clock: 1, Node: 1})
			body, ct := tc.body()
			h := evil.Clone()
			if ct != "" {
				h.Set("Content-Type", ct)
			}
			rec := serve(t, srv, tc.method, tc.target, strings.NewReader(body), h)
			assert.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), "cross-origin")
			assert.Empty(t, node.puts, "nothing written")

			// The same request from the page's own origin, and from curl.
			for _, same := range []http.Header{hdr("Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"), {}} {
				h := same.Clone()
				if ct != "" {
					h.Set("Content-Type", ct)
				}
				rec := serve(t, srv, tc.method, tc.target, strings.NewReader(body), h)
				assert.Less(t, rec.Code, 400, "%v: %s", same, rec.Body.String())
			}
		})
	}
	// Reads from anywhere stay open.
	srv, node := newTestServer(t, httpapi.Options{})
	node.set("k", []byte("v"), store.Version{Clock: 1, Node: 1})
	assert.Equal(t, http.StatusOK, serve(t, srv, "GET", "/get/k", nil, evil).Code)
}

func TestServer_ValueIsNotRunByABrowser(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.set("page", []byte("<script>alert(1)</script>"), store.Version{Clock: 1, Node: 1})
	for _, path := range []string{"/get/page", "/getlocal/page"} {
		rec := serve(t, srv, "GET", path, nil, nil)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "application/octet-stream", rec.Header().Get("Content-Type"))
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'")
	}
}

func TestServer_InternalErrorNamesNoFile(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.setPutErr(errors.New("store \"k\": open /var/lib/diststore/diststore.db: input/output error"))
	rec := serve(t, srv, "POST", "/k", strings.NewReader("v"), nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "/var/lib")
	assert.Contains(t, rec.Body.String(), "internal error")
}

func TestServer_Put_ConflictNamesTheVersionThatWon(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	won := store.Version{Clock: 99 << 16, Node: 3}
	node.setPutErr(&cluster.ConflictError{Held: won})
	rec := serve(t, srv, "POST", "/k", strings.NewReader("v"), nil)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, `"`+won.String()+`"`, rec.Header().Get("ETag"))
	assert.Contains(t, rec.Body.String(), "newer write")
}
