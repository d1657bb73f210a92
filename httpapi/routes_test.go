package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouteOf(t *testing.T) {
	tests := []struct {
		method, path string
		want         route
		contentType  string
	}{
		{"GET", "/", routePage, ""},
		{"HEAD", "/", routePage, ""},
		{"POST", "/", routeForm, ""},
		{"PUT", "/", routeOther, ""},
		{"DELETE", "/", routeOther, ""},
		{"GET", "/lookup", routeLookup, ""},
		{"GET", "/list", routeList, ""},
		{"HEAD", "/list", routeList, ""},
		{"GET", "/dump", routeDump, ""},
		{"GET", "/status", routeStatus, ""},
		{"GET", "/digest", routeDigest, ""},
		{"GET", "/healthz", routeHealthz, ""},
		{"GET", "/readyz", routeReadyz, ""},
		{"GET", "/metrics", routeMetrics, ""},
		{"GET", "/backup", routeBackup, ""},
		{"HEAD", "/backup", routeBackup, ""},
		{"POST", "/admin/restore", routeRestore, ""},
		{"GET", "/admin/restore", routeOther, ""}, // a 405
		{"PUT", "/admin/restore", routeOther, ""}, // a 405
		{"POST", "/restore", routePut, ""},        // the key "restore"
		{"POST", "/backup", routePut, ""},         // the key "backup"
		{"POST", "/admin%2Frestore", routePut, ""},

		// A write to an endpoint's name is a write of that key.
		{"POST", "/list", routePut, ""},
		{"PUT", "/list", routePut, ""},
		{"POST", "/status", routePut, ""},
		{"POST", "/get", routePut, ""},
		{"POST", "/getlocal", routePut, ""},
		{"POST", "/local", routePut, ""},
		{"POST", "/lookup", routePut, ""},
		{"PUT", "/metrics", routePut, ""},
		{"POST", "/k", routePut, ""},
		{"PUT", "/a%2Fb", routePut, ""},
		{"DELETE", "/list", routeDelete, ""},
		{"DELETE", "/k", routeDelete, ""},
		{"DELETE", "/delete", routeDelete, ""},

		{"GET", "/get/x", routeGet, ""},
		{"HEAD", "/get/x", routeGet, ""},
		{"POST", "/get/x", routeGet, ""}, // a 405 of the get route
		{"DELETE", "/get/x", routeGet, ""},
		{"GET", "/get/", routeGet, ""}, // a 400: empty key
		{"GET", "/getlocal/x", routeGetLocal, ""},
		{"PUT", "/getlocal/x", routeGetLocal, ""},
		{"POST", "/local/x", routeLocal, ""},
		{"DELETE", "/local/x", routeLocal, ""},
		{"GET", "/local/x", routeLocal, ""},

		// POST /delete is the form's delete only with a form body.
		{"POST", "/delete", routeDeleteForm, "application/x-www-form-urlencoded"},
		{"POST", "/delete", routeDeleteForm, "application/x-www-form-urlencoded; charset=UTF-8"},
		{"POST", "/delete", routeDeleteForm, "Multipart/Form-Data; boundary=x"},
		{"POST", "/delete", routePut, ""}, // the key "delete"
		{"POST", "/delete", routePut, "application/octet-stream"},
		{"POST", "/delete", routePut, "text/plain"},
		{"PUT", "/delete", routePut, "application/x-www-form-urlencoded"},
		{"POST", "/list", routePut, "application/x-www-form-urlencoded"}, // only /delete is a form's
		{"GET", "/delete", routeOther, ""},                               // a 405
		{"POST", "/delete/x", routeDeleteKey, ""},
		{"POST", "/delete/x", routeDeleteKey, "application/x-www-form-urlencoded"},
		{"GET", "/delete/x", routeDeleteKey, ""},    // a 405 of the delete route
		{"PUT", "/delete/x", routeDeleteKey, ""},    // a 405: the key "delete/x" is PUT /delete%2Fx
		{"DELETE", "/delete/x", routeDeleteKey, ""}, // a 405
		{"PUT", "/delete%2Fx", routePut, ""},

		{"GET", "/get", routeOther, ""},
		{"GET", "/nope", routeOther, ""},
		{"GET", "/list/x", routeOther, ""},
		{"PATCH", "/list", routeOther, ""},
		{"GET", "/k", routeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want.String(), routeOf(tt.method, tt.path, tt.contentType).String())
		})
	}
}

// TestRoutes_Complete: every route has a label and exactly one handler.
func TestRoutes_Complete(t *testing.T) {
	s := New(nil, Options{})
	for rt := routeOther; rt < numRoutes; rt++ {
		assert.NotEmpty(t, rt.String(), "route %d has no label", rt)
		if rt == routeOther {
			continue
		}
		keyed, fixed := s.keyed[rt] != nil, s.fixed[rt] != nil
		assert.True(t, keyed != fixed, "route %s: keyed %v, fixed %v", rt, keyed, fixed)
		assert.Equal(t, keyed, keyRoutes[rt].prefix != "", "route %s: a key handler if and only if a key prefix", rt)
	}
	for _, f := range fixedRoutes {
		assert.NotNil(t, s.fixed[f.route], "%s %s", f.method, f.path)
		ct := ""
		if f.route == routeDeleteForm {
			ct = "application/x-www-form-urlencoded"
		}
		assert.Equal(t, f.route, routeOf(f.method, f.path, ct), "%s %s", f.method, f.path)
	}
}

// TestRoutes_WrongMethod: every path of the route table answers a method
// no route takes there with 405 and an Allow naming those that do, never
// with 404; and every method in Allow is served by some route.
func TestRoutes_WrongMethod(t *testing.T) {
	// What each path takes, written out by hand: a path that ends in a
	// key takes the writes of that key (POST /status stores the key
	// "status"), the fixed routes add their GET (with HEAD) or POST.
	allow := map[string]string{
		"/":              "GET, HEAD, POST",
		"/greeting":      "POST, PUT, DELETE",
		"/a%2Fb":         "POST, PUT, DELETE",
		"/lookup":        "GET, HEAD, POST, PUT, DELETE",
		"/delete":        "POST, PUT, DELETE",
		"/list":          "GET, HEAD, POST, PUT, DELETE",
		"/dump":          "GET, HEAD, POST, PUT, DELETE",
		"/status":        "GET, HEAD, POST, PUT, DELETE",
		"/digest":        "GET, HEAD, POST, PUT, DELETE",
		"/healthz":       "GET, HEAD, POST, PUT, DELETE",
		"/readyz":        "GET, HEAD, POST, PUT, DELETE",
		"/metrics":       "GET, HEAD, POST, PUT, DELETE",
		"/backup":        "GET, HEAD, POST, PUT, DELETE",
		"/admin/restore": "POST",
		"/replicate":     "GET, HEAD, POST, PUT, DELETE",
		"/get/k":         "GET, HEAD",
		"/getlocal/k":    "GET, HEAD",
		"/local/k":       "POST, PUT, DELETE",
		"/delete/k":      "POST",
	}
	// Every route of the table is in it.
	for _, f := range fixedRoutes {
		assert.Contains(t, allow, f.path, "fixed route %s %s", f.method, f.path)
	}
	for rt, k := range keyRoutes {
		if k.prefix != "" && k.prefix != "/" {
			assert.Contains(t, allow, k.prefix+"k", "key route %s", route(rt))
		}
	}
	s := New(nil, Options{}) // a 405 never reaches the node
	for path, want := range allow {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"} {
			taken := slices.Contains(strings.Split(want, ", "), m)
			t.Run(m+" "+path, func(t *testing.T) {
				if taken {
					rt := routeOf(m, path, "")
					require.NotEqual(t, routeOther, rt, "no route takes it")
					if k := keyRoutes[rt]; k.prefix != "" {
						assert.Contains(t, k.methods, m, "its route %s does not take it", rt)
					}
					return
				}
				req := httptest.NewRequest(m, "http://node"+path, strings.NewReader("v"))
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				require.Equal(t, http.StatusMethodNotAllowed, rec.Code, rec.Body.String())
				assert.Equal(t, want, rec.Header().Get("Allow"))
				assert.Contains(t, rec.Body.String(), "method not allowed: "+m)
			})
		}
	}
}

// TestRoutes_WrongMethod_HintsAtGet: a GET of a key's path says where the
// key is read.
func TestRoutes_WrongMethod_HintsAtGet(t *testing.T) {
	s := New(nil, Options{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/greeting", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "method not allowed: GET: this path takes POST, PUT, DELETE; read a key with GET /get/<key>\n", rec.Body.String())
}
