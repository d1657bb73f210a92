package httpapi_test

import (
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
