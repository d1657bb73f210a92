package httpapi_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/httpapi"
)

var (
	pageKeyLink  = regexp.MustCompile(`<li><a href="([^"]*)">([^<]*)</a></li>`)
	pageNextLink = regexp.MustCompile(`<a id="keys-next" href="([^"]*)">`)
)

// TestServer_Page_KeyBrowser: the page lists the node's keys with a
// prefix, each linking to its value, a page at a time.
func TestServer_Page_KeyBrowser(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	for i := range 150 {
		node.set(fmt.Sprintf("user/%03d", i), []byte("v"), testVersion)
	}
	node.set("a b&c", []byte("v"), testVersion) // a key no client can write, to check escaping
	node.set("other/<x>", []byte("v"), testVersion)

	rec := serve(t, srv, http.MethodGet, "/?prefix=user/", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	links := pageKeyLink.FindAllStringSubmatch(rec.Body.String(), -1)
	require.Len(t, links, 100, "a page of 100 keys")
	assert.Equal(t, []string{"/get/user%2F000", "user/000"}, links[0][1:])
	assert.Equal(t, []string{"/get/user%2F099", "user/099"}, links[99][1:])
	next := pageNextLink.FindStringSubmatch(rec.Body.String())
	require.NotNil(t, next, "a link to the next page")
	assert.Equal(t, "/?after=user%2F099&amp;prefix=user%2F#keys-heading", next[1])

	rec = serve(t, srv, http.MethodGet, "/?after=user%2F099&prefix=user%2F", nil, nil)
	links = pageKeyLink.FindAllStringSubmatch(rec.Body.String(), -1)
	require.Len(t, links, 50)
	assert.Equal(t, "user/100", links[0][2])
	assert.Nil(t, pageNextLink.FindStringSubmatch(rec.Body.String()), "the last page")

	rec = serve(t, srv, http.MethodGet, "/?prefix=other/", nil, nil)
	links = pageKeyLink.FindAllStringSubmatch(rec.Body.String(), -1)
	require.Len(t, links, 1)
	assert.Equal(t, []string{"/get/other%2F%3Cx%3E", "other/&lt;x&gt;"}, links[0][1:], "keys are escaped in links and text")

	rec = serve(t, srv, http.MethodGet, "/?prefix=nothing", nil, nil)
	assert.Contains(t, rec.Body.String(), `<li id="no-keys">No keys starting with <code>nothing</code>.</li>`)

	rec = serve(t, srv, http.MethodGet, "/?prefix=a%20b", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code, "a bad prefix is said on the page")
	assert.Contains(t, rec.Body.String(), `id="browse-error">bad request: prefix: bad key`)
}
