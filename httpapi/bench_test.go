package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/diststore/diststore/httpapi"
)

// BenchmarkServer_Get measures the handler's own cost for GET /get of a
// key the node holds (a fake node, no network).
func BenchmarkServer_Get(b *testing.B) {
	srv, node := newTestServer(b, httpapi.Options{})
	node.set("bench-1", make([]byte, 100), testVersion)
	req := httptest.NewRequest("GET", "/get/bench-1", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
