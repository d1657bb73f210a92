package httpapi

import (
	"mime"
	"net/http"
	"strings"
)

// route is what a request is, decided once from its method and escaped
// path by routeOf: the handler that serves it and the "route" label of the
// HTTP metrics both come from it, so the two cannot disagree.
type route uint8

const (
	routeOther      route = iota // no route: a 405 naming the methods the path takes (allowedOn)
	routePage                    // GET /
	routeForm                    // POST /, the original's form
	routeLookup                  // GET /lookup?key=
	routeDeleteForm              // POST /delete with a form body, field key
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

// fixedRoutes are the routes without a key.
var fixedRoutes = []fixedRoute{
	{http.MethodGet, "/", routePage},
	{http.MethodPost, "/", routeForm},
	{http.MethodGet, "/lookup", routeLookup},
	{http.MethodPost, pathDeleteForm, routeDeleteForm}, // with a form body only (routeOf)
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

// pathDeleteForm is the path of the HTML form's delete: a POST of it is
// that delete only when its body is a form (isForm); any other write of
// it is a write of the key "delete".
const pathDeleteForm = "/delete"

// isForm reports whether a Content-Type is an HTML form's: urlencoded or
// multipart/form-data, whatever its parameters and case.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data")
}

// routeOf maps a request's method, escaped path and Content-Type to its
// route. The rule, the same for every path (see the package doc):
//
//   - a path that starts with /get/, /getlocal/, /local/ or /delete/
//     belongs to that key route, whatever the method (one it does not
//     take is a 405);
//   - POST / is the form, POST /admin/restore the restore, and POST
//     /delete with a form body the form's delete;
//   - any other POST or PUT of a path but / and /admin/restore is a
//     write of the key the path names, and a DELETE a delete of it, even
//     when that key is the name of an endpoint (POST /list stores the key
//     "list", as in the original);
//   - GET and HEAD go to the fixed routes.
//
// Keys go by the escaped path's first segment, so a key is never cleaned
// or redirected.
func routeOf(method, p, contentType string) route {
	write := method == http.MethodPost || method == http.MethodPut
	switch {
	case strings.HasPrefix(p, "/get/"):
		return routeGet
	case strings.HasPrefix(p, "/getlocal/"):
		return routeGetLocal
	case strings.HasPrefix(p, "/local/"):
		return routeLocal
	case strings.HasPrefix(p, "/delete/"):
		return routeDeleteKey
	case p == pathDeleteForm && method == http.MethodPost && isForm(contentType):
		return routeDeleteForm
	case p == "/" || p == pathRestore:
	case write:
		return routePut
	case method == http.MethodDelete:
		return routeDelete
	}
	for _, f := range fixedRoutes {
		if f.path == p && (f.method == method || f.method == http.MethodGet && method == http.MethodHead) {
			return f.route
		}
	}
	return routeOther
}

// methods are the methods some route takes; any other is a 405 on every
// path.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}

// allowedOn returns the methods that some route takes on the escaped path
// p: the Allow of a 405 there. Every path but / takes the writes of a
// key, so a request of no route is always a 405, never a 404.
func allowedOn(p string) []string {
	var allow []string
	for _, m := range methods {
		if routeOf(m, p, "") != routeOther {
			allow = append(allow, m)
		}
	}
	return allow
}
