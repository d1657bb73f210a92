package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/httpapi"
)

// The page lists original pydiststore nodes as such, and says whether
// the masters hold all their keys.
func TestServer_Index_Originals(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.mu.Lock()
	node.status.Members = append(node.status.Members,
		api.MemberStatus{Addr: "10.0.0.21", Keys: 9, Kind: api.KindOriginal, Missing: 2})
	node.status.Migration = &api.Migration{Originals: 1, OriginalKeys: 9, Pending: []string{"10.0.0.1"}}
	node.mu.Unlock()
	rec := serve(t, srv, http.MethodGet, "/", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	assert.Contains(t, page, "<td>10.0.0.21</td><td>9</td><td>original pydiststore (2 not yet copied here)</td>")
	assert.Contains(t, page, "Original pydiststore nodes on the group: 1, holding 9 keys.")
	assert.Contains(t, page, "not done yet on 10.0.0.1.")

	node.mu.Lock()
	node.status.Migration = &api.Migration{Originals: 1, OriginalKeys: 9, Done: true, Pending: []string{}}
	node.mu.Unlock()
	rec = serve(t, srv, http.MethodGet, "/", nil, nil)
	assert.Contains(t, rec.Body.String(), "Every master holds all of them: the original nodes can be stopped.")
}

// The page says how this node found each member.
func TestServer_Index_Found(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.mu.Lock()
	node.status.Members[0].Found = api.FoundJoin
	node.status.Members[1].Found = api.FoundGossip
	node.mu.Unlock()
	rec := serve(t, srv, http.MethodGet, "/", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	assert.Contains(t, page, "<th>Found by</th>")
	assert.Contains(t, page, "<td>10.0.0.1</td><td>3</td><td>master</td><td>join</td>")
	assert.Contains(t, page, "<td>10.0.0.2</td><td>3</td><td>master</td><td>gossip</td>")
}
