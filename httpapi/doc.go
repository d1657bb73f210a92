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
package httpapi
