// Package cluster is the diststore node: the store it holds, its view of
// the other members, master election, miss resolution, write forwarding
// and master sync. It owns the goroutines that do this and stops them on
// Close.
//
// # Membership
//
// Every node multicasts a heartbeat ("hb") every Config.HeartbeatInterval,
// jittered by ±10%, carrying its address, key count and the master pair it
// holds with that pair's epoch. A member silent for Config.FailureTimeout is
// gone; a node that leaves says "bye". A new node learns the masters from
// the first heartbeat of a master, which masters send at once when they see
// a member they did not know.
//
// # Masters
//
// The rules are in package election. A node adopts any pair that is
// better than the one it holds (higher epoch, then lower addresses), so
// every node converges on the same pair. A node that becomes master copies
// from the other master every key it lacks or holds an older version of
// (GET /dump, streamed), then says in its heartbeats that it is synced.
//
// # Writes
//
// A write gets a version from the node's hybrid logical clock, is stored
// here and forwarded to every master (POST /local/<key> with the version in
// X-Diststore-Version). It is acknowledged only once every master of the
// current pair holds it. A master that cannot be reached is reported with
// "masterlost", replaced by the writer (election.Replace), and the write
// goes on to the new master before the client is answered.
//
// # Misses
//
// A key that is not held here is asked for with a multicast "whohas".
// Holders answer "gotkey"; a synced master that does not hold it answers
// "nokey", so a key that no one holds is a 404 in about a round trip rather
// than after Config.MulticastTimeout. The value is fetched over HTTP from
// the first holder that answers, kept here and served. Concurrent misses
// of one key share one query.
//
// # Peers
//
// The node makes its requests to other nodes through the Peers interface
// given in Config.Peers: package httpapi implements it over HTTP (the
// paths and headers named above are that implementation's), the tests
// with an in-memory table of nodes. The dump stream's format is this
// package's (dump.go): the node writes it and reads it.
package cluster
