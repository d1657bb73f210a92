// Package httpapi is diststore's HTTP interface: the original
// pydiststore's API (POST /<key>, POST /local/<key>, GET /get/<key>,
// GET /getlocal/<key>, GET /list, the HTML form), the pages of
// GET /list?prefix=&after=&limit=, the node-to-node dump used by master
// sync, the operator's hot backup (GET /backup) and restore
// (POST /admin/restore), the status and health endpoints, and the HTML
// page with its key browser.
// It talks to the node through the small Node interface, so its tests run
// over a fake.
//
// It also holds the other side of the node-to-node protocol: PeerClient,
// the HTTP implementation of cluster.Peers, with the paths and headers
// that the Server answers, so both sides share one definition. Forwarded
// writes go on a replication stream to each master (package repl) that
// PeerClient opens by upgrading GET /replicate (stream.go) and the Server
// serves until Close; a value larger than repl.MaxStreamValue, a
// conditional write, and a node that does not upgrade (an older diststore,
// the original) get POST /local, one request per write, as before.
//
// Routing is on exact path segments of the escaped path: /get/<key> is the
// key "<key>" whatever it contains, and a key may hold an escaped slash
// (%2F). One function, routeOf in routes.go, maps a request to its route,
// which picks the handler and names the request in the metrics. Errors map
// to statuses in one place, statusOf.
//
// # Which path is a key
//
// The same rule for every path, in this order:
//
//  1. A path that starts with /get/, /getlocal/, /local/ or /delete/
//     belongs to that route, whatever the method: /get/ and /getlocal/
//     take GET and HEAD, /local/ POST, PUT and DELETE, /delete/ POST.
//  2. POST / is the form (fields key, value, ttl; urlencoded or
//     multipart), POST /admin/restore the restore, and POST /delete whose
//     Content-Type is a form's (application/x-www-form-urlencoded or
//     multipart/form-data) the form's delete (field key).
//  3. Any other POST or PUT of a path is a write of the key the path
//     names, and a DELETE a delete of it, even when the key is an
//     endpoint's name: POST /status, /list, /get, /restore, /metrics...
//     and PUT /delete store those keys, as the original does.
//  4. GET and HEAD go to the page and the endpoints (/list, /status...).
//
// So the keys that POST /<key> with the key as it is cannot write are:
// the keys that start with get/, getlocal/, local/ or delete/, the key
// admin/restore, and the key delete when the body is sent as a form (as
// curl -d does). Each is written by escaping its slash (PUT /get%2Fx,
// POST /admin%2Frestore), by PUT /delete or a POST /delete of another
// Content-Type, or with the form, POST / with the field key, which takes
// any key. A client that escapes every key as url.PathEscape does never
// meets rule 1 or the restore.
//
// A method that no route takes on a path is answered 405 with an Allow
// header naming those that do, never 404: every path but / takes the
// writes of a key, so GET /greeting is a 405 that points to
// GET /get/greeting.
package httpapi
