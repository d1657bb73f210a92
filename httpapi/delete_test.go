package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/httpapi"
)

func TestServer_Delete(t *testing.T) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	browser := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"text/html"}}
	tests := []struct {
		name     string
		method   string
		target   string
		body     string
		header   http.Header
		code     int
		location string
	}{
		{"DELETE", "DELETE", "/a%2Fb", "", nil, http.StatusOK, ""},
		{"POST /delete/<key>", "POST", "/delete/a%2Fb", "", nil, http.StatusOK, ""},
		{"the page's form", "POST", "/delete", "key=" + url.QueryEscape("a/b"), browser, http.StatusSeeOther, "/?deleted=a%2Fb"},
		{"the form from a script", "POST", "/delete", "key=a%2Fb", form, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("a/b", []byte("v"), testVersion)
			rec := serve(t, srv, tt.method, tt.target, strings.NewReader(tt.body), tt.header)
			require.Equal(t, tt.code, rec.Code, rec.Body.String())
			assert.Equal(t, tt.location, rec.Header().Get("Location"))
			calls := node.putCalls()
			require.Len(t, calls, 1)
			assert.Equal(t, "a/b", calls[0].Key)
			assert.True(t, calls[0].Write.Delete, "a delete, not a write of a key named delete")
		})
	}
}

func TestServer_Delete_NoKeyInForm(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, "POST", "/delete", strings.NewReader("nokey=1"),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Empty(t, node.putCalls())
}

// TestServer_Delete_FormOfEitherEncoding: the form's delete takes a
// multipart form as POST / does.
func TestServer_Delete_FormOfEitherEncoding(t *testing.T) {
	for _, enc := range formEncodings {
		t.Run(enc.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("a/b", []byte("v"), testVersion)
			body, ct := enc.encode(t, "key", "a/b")
			rec := serve(t, srv, "POST", "/delete", body, hdr("Content-Type", ct))
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			calls := node.putCalls()
			require.Len(t, calls, 1)
			assert.Equal(t, "a/b", calls[0].Key)
			assert.True(t, calls[0].Write.Delete)
		})
	}
}

// TestServer_KeyNamedDelete: POST /delete that is not a form, and PUT
// /delete, store the key "delete", as POST /restore stores "restore".
func TestServer_KeyNamedDelete(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		contentType string
	}{
		{"POST raw", "POST", ""},
		{"POST octet-stream", "POST", "application/octet-stream"},
		{"POST text", "POST", "text/plain"},
		{"PUT", "PUT", ""},
		{"PUT with a form's type", "PUT", "application/x-www-form-urlencoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			rec := serve(t, srv, tt.method, "/delete", strings.NewReader("hello"), hdr("Content-Type", tt.contentType))
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			calls := node.putCalls()
			require.Len(t, calls, 1)
			assert.Equal(t, "delete", calls[0].Key)
			assert.False(t, calls[0].Write.Delete)
			assert.Equal(t, "hello", string(calls[0].Write.Value))
		})
	}
}

// TestServer_ReservedKeyNames: the keys whose path is an endpoint's are
// written with the slash escaped, or with the form POST /, which takes
// any key.
func TestServer_ReservedKeyNames(t *testing.T) {
	keys := []string{"delete", "delete/x", "get/x", "getlocal/x", "local/x", "admin/restore", "status", "list", "restore"}
	for _, key := range keys {
		t.Run("path "+key, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			rec := serve(t, srv, "PUT", "/"+url.PathEscape(key), strings.NewReader("v"), nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			calls := node.putCalls()
			require.Len(t, calls, 1)
			assert.Equal(t, key, calls[0].Key)
			assert.False(t, calls[0].Write.Delete)
		})
		for _, enc := range formEncodings {
			t.Run("form "+enc.name+" "+key, func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{})
				body, ct := enc.encode(t, "key", key, "value", "v")
				rec := serve(t, srv, "POST", "/", body, hdr("Content-Type", ct))
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				calls := node.putCalls()
				require.Len(t, calls, 1)
				assert.Equal(t, key, calls[0].Key)
				assert.Equal(t, "v", string(calls[0].Write.Value))
			})
		}
	}
}

// TestServer_Delete_FormWithoutKeySaysHowToStoreDelete: curl -d sends a
// form's Content-Type; the answer says how to store the key "delete".
func TestServer_Delete_FormWithoutKeySaysHowToStoreDelete(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, "POST", "/delete", strings.NewReader("hello"),
		hdr("Content-Type", "application/x-www-form-urlencoded"))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "PUT /delete")
	assert.Empty(t, node.putCalls())
}

// TestServer_Delete_SaysWhetherTheKeyExisted: every way of deleting
// answers 200, with X-Diststore-Existed telling whether the key was there.
func TestServer_Delete_SaysWhetherTheKeyExisted(t *testing.T) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	ways := []struct {
		name, method, target, body string
		header                     http.Header
	}{
		{"DELETE", "DELETE", "/k", "", nil},
		{"POST /delete/<key>", "POST", "/delete/k", "", nil},
		{"the form", "POST", "/delete", "key=k", form},
	}
	for _, way := range ways {
		for _, held := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s held %v", way.name, held), func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{})
				if held {
					node.set("k", []byte("v"), testVersion)
				}
				rec := serve(t, srv, way.method, way.target, strings.NewReader(way.body), way.header)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				assert.Equal(t, fmt.Sprint(held), rec.Header().Get(httpapi.ExistedHeader))
				if !held {
					assert.Contains(t, rec.Body.String(), "the key did not exist")
				}
			})
		}
	}
	t.Run("a write says nothing", func(t *testing.T) {
		srv, _ := newTestServer(t, httpapi.Options{})
		rec := serve(t, srv, "PUT", "/k", strings.NewReader("v"), nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.NotContains(t, rec.Header(), httpapi.ExistedHeader)
	})
	t.Run("no master could tell", func(t *testing.T) {
		srv, node := newTestServer(t, httpapi.Options{})
		node.existenceUnknown = true
		rec := serve(t, srv, "DELETE", "/k", nil, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.NotContains(t, rec.Header(), httpapi.ExistedHeader)
	})
}
