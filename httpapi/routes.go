package httpapi

import (
	"net/http"
	"strings"
)

// route is what a request is, decided once from its method and escaped
// path by routeOf: the handler that serves it and the "route" label of the
// HTTP metrics both come from it, so the two cannot disagree.
type route uint8

const (
	routeOther      route = iota // no route: 404, 405 on a path without a key, or a redirect to the clean path
	routePage                    // GET /
	routeForm                    // POST /, the original's form
	routeLookup                  // GET /lookup?key=
	routeDeleteForm              // POST /delete, form field key
	routeList                    // GET /list
	routeDump                    // GET /dump
	routeStatus                  // GET /status
	routeDigest                  // GET /digest
	routeHealthz                 // GET /healthz
	routeReadyz                  // GET /readyz
	routeMetrics                 // GET /metrics
	routeBackup                  // GET /backup
	routeRestore                 // POST /admin/restore
	routeReplicate               // GET /replicate, upgraded to a replication stream
	routeGet                     // /get/<key>
	routeGetLocal                // /getlocal/<key>
	routeLocal                   // /local/<key>
	routeDeleteKey               // POST /delete/<key>
	routePut                     // POST or PUT /<key>
	routeDelete                  // DELETE /<key>
	numRoutes
)

// routeNames are the metrics' labels. Every way of deleting is "delete".
var routeNames = [numRoutes]string{
	routeOther:      "other",
	routePage:       "page",
	routeForm:       "form",
	routeLookup:     "lookup",
	routeDeleteForm: "delete",
	routeList:       "list",
	routeDump:       "dump",
	routeStatus:     "status",
	routeDigest:     "digest",
	routeHealthz:    "healthz",
	routeReadyz:     "readyz",
	routeMetrics:    "metrics",
	routeBackup:     "backup",
	routeRestore:    "restore",
	routeReplicate:  "replicate",
	routeGet:        "get",
	routeGetLocal:   "getlocal",
	routeLocal:      "local",
	routeDeleteKey:  "delete",
	routePut:        "put",
	routeDelete:     "delete",
}

// String returns the route's metrics label.
func (rt route) String() string { return routeNames[rt] }

// keyRoute is a route whose path ends in a key: the escaped prefix before
// it, and the methods it takes (another is a 405 naming these).
type keyRoute struct {
	prefix  string
	methods []string
}

// keyRoutes are the routes that carry a key, by route; the others have
// no prefix.
var keyRoutes = [numRoutes]keyRoute{
	routeGet:       {"/get/", []string{http.MethodGet, http.MethodHead}},
	routeGetLocal:  {"/getlocal/", []string{http.MethodGet, http.MethodHead}},
	routeLocal:     {"/local/", []string{http.MethodPost, http.MethodPut, http.MethodDelete}},
	routeDeleteKey: {"/delete/", []string{http.MethodPost}},
	routePut:       {"/", []string{http.MethodPost, http.MethodPut}},
	routeDelete:    {"/", []string{http.MethodDelete}},
}

// fixedRoute is a route without a key: one method (GET also takes HEAD)
// on one exact path.
type fixedRoute struct {
	method, path string
	route        route
}

// fixedRoutes are the routes without a key. The ServeMux that answers
// requests of no route is built from them too, so it answers 405 (with
// Allow) for these paths and 404 for others, as before.
var fixedRoutes = []fixedRoute{
	{http.MethodGet, "/", routePage},
	{http.MethodPost, "/", routeForm},
	{http.MethodGet, "/lookup", routeLookup},
	{http.MethodPost, "/delete", routeDeleteForm},
	{http.MethodGet, "/list", routeList},
	{http.MethodGet, "/dump", routeDump},
	{http.MethodGet, "/status", routeStatus},
	{http.MethodGet, "/digest", routeDigest},
	{http.MethodGet, "/healthz", routeHealthz},
	{http.MethodGet, "/readyz", routeReadyz},
	{http.MethodGet, "/metrics", routeMetrics},
	{http.MethodGet, "/backup", routeBackup},
	{http.MethodPost, pathRestore, routeRestore},
	{http.MethodGet, pathReplicate, routeReplicate},
}

// pathRestore is the path of a restore. A POST of a path of one segment
// stores the key it names (POST /restore stores the key "restore", as in
// the original), so a route that takes a POST has a path of two, as
// POST /delete/<key>: a key with a "/" is sent with it escaped (%2F).
const pathRestore = "/admin/restore"

// routeOf maps a request's method and escaped path to its route. Key
// routes go by the escaped path's first segment, so a key is never cleaned
// or redirected; any other POST, PUT or DELETE of a path but /, /delete
// and /admin/restore is a write of the key the path names, even when that key is the name of
// an endpoint (POST /list stores the key "list", as in the original).
func routeOf(method, p string) route {
	write := method == http.MethodPost || method == http.MethodPut
	switch {
	case strings.HasPrefix(p, "/get/"):
		return routeGet
	case strings.HasPrefix(p, "/getlocal/"):
		return routeGetLocal
	case strings.HasPrefix(p, "/local/"):
		return routeLocal
	case strings.HasPrefix(p, "/delete/") && method == http.MethodPost:
		return routeDeleteKey
	case p != "/" && p != "/delete" && p != pathRestore && write:
		return routePut
	case p != "/" && method == http.MethodDelete:
		return routeDelete
	}
	for _, f := range fixedRoutes {
		if f.path == p && (f.method == method || f.method == http.MethodGet && method == http.MethodHead) {
			return f.route
		}
	}
	return routeOther
}

// muxPattern is the ServeMux pattern of a fixed route: "/" alone must not
// match every path.
func (f fixedRoute) muxPattern() string {
	if f.path == "/" {
		return f.method + " /{$}"
	}
	return f.method + " " + f.path
}
