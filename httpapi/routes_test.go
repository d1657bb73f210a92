package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRouteOf(t *testing.T) {
	tests := []struct {
		method, path string
		want         route
	}{
		{"GET", "/", routePage},
		{"HEAD", "/", routePage},
		{"POST", "/", routeForm},
		{"PUT", "/", routeOther},
		{"DELETE", "/", routeOther},
		{"GET", "/lookup", routeLookup},
		{"GET", "/list", routeList},
		{"HEAD", "/list", routeList},
		{"GET", "/dump", routeDump},
		{"GET", "/status", routeStatus},
		{"GET", "/digest", routeDigest},
		{"GET", "/healthz", routeHealthz},
		{"GET", "/readyz", routeReadyz},
		{"GET", "/metrics", routeMetrics},
		{"GET", "/backup", routeBackup},
		{"HEAD", "/backup", routeBackup},
		{"POST", "/admin/restore", routeRestore},
		{"GET", "/admin/restore", routeOther}, // the mux's 405
		{"PUT", "/admin/restore", routeOther}, // the mux's 405, as PUT /delete
		{"POST", "/restore", routePut},        // the key "restore"
		{"POST", "/backup", routePut},         // the key "backup"
		{"POST", "/admin%2Frestore", routePut},

		// A write to an endpoint's name is a write of that key.
		{"POST", "/list", routePut},
		{"PUT", "/list", routePut},
		{"POST", "/status", routePut},
		{"POST", "/get", routePut},
		{"POST", "/getlocal", routePut},
		{"POST", "/local", routePut},
		{"POST", "/lookup", routePut},
		{"PUT", "/metrics", routePut},
		{"POST", "/k", routePut},
		{"PUT", "/a%2Fb", routePut},
		{"DELETE", "/list", routeDelete},
		{"DELETE", "/k", routeDelete},
		{"DELETE", "/delete", routeDelete},

		{"GET", "/get/x", routeGet},
		{"HEAD", "/get/x", routeGet},
		{"POST", "/get/x", routeGet}, // a 405 of the get route
		{"DELETE", "/get/x", routeGet},
		{"GET", "/get/", routeGet}, // a 400: empty key
		{"GET", "/getlocal/x", routeGetLocal},
		{"PUT", "/getlocal/x", routeGetLocal},
		{"POST", "/local/x", routeLocal},
		{"DELETE", "/local/x", routeLocal},
		{"GET", "/local/x", routeLocal},

		{"POST", "/delete", routeDeleteForm},
		{"GET", "/delete", routeOther}, // the mux's 405
		{"POST", "/delete/x", routeDeleteKey},
		{"GET", "/delete/x", routeOther},
		{"PUT", "/delete/x", routePut}, // the key "delete/x"

		{"GET", "/get", routeOther},
		{"GET", "/nope", routeOther},
		{"GET", "/list/x", routeOther},
		{"PATCH", "/list", routeOther},
		{"GET", "/k", routeOther},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want.String(), routeOf(tt.method, tt.path).String())
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
		assert.Equal(t, f.route, routeOf(f.method, f.path), "%s %s", f.method, f.path)
	}
}
