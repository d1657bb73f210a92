// Package cluster is the diststore node: the store it holds, its view of
// the other members, master election, miss resolution, write forwarding
// and master sync. It owns the goroutines that do this and stops them on
// Close, which waits for every one of them, miss resolutions included.
//
// # Who owns what
//
// The membership loop (run, membership.go) is the one goroutine that
// changes the members, the master pair and whether this node is a synced
// master. It handles every datagram, ticks (heartbeats, expiry,
// elections), and runs other goroutines' requests (lostMaster from a
// writer, markSynced from the sync loop, Leave) through inLoop. After each
// change it publishes an immutable view (Node.view, an atomic pointer)
// that every reader loads without a lock; a view's changed channel is
// closed when a view with another pair replaces it, which is how a writer
// waits for a new pair. The sync loop (sync.go) owns syncs, digest checks,
// demotion and purges; the migrate loop (migrate.go) owns copying the
// keys of original nodes; resolve (miss.go) owns the open queries.
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
// A node with seeds (Config.Seeds, diststored's --join) or without the
// group (Config.NoMulticast) also takes part in the unicast membership
// (gossip.go): it sends its heartbeat by unicast to the masters, its
// seeds, a few random members and nodes it was told of, and a master to
// every member, so that traffic stays O(N) per interval with no full
// mesh. What a member says of itself still comes only from its own
// datagrams; a members list only names nodes to contact.
//
// # Masters
//
// The rules are in package election. A node adopts any pair that is
// better than the one it holds (higher epoch, then lower addresses), so
// every node converges on the same pair. A node that becomes master copies
// from the other master every key it lacks or holds an older version of
// (GET /dump, streamed), then says in its heartbeats that it is synced.
//
// # Demotion
//
// A node that is not a master but holds entries durably (a replaced
// master, or any node restarted over its data dir) hands them to the
// masters (demote.go) and drops its durable copy of an entry only once
// every master of the pair holds it: not before the pair is settled in
// this node's view and every master has said in its heartbeat that it is
// synced, and then only for the entries that every master's versions
// (dump without values), read after the write-back, show at the same
// version or newer. The rest stays durable and is tried again with
// backoff; until nothing is left, reads skip the durable store.
//
// # Writes
//
// Write (write.go) is the one entry point of a client's write. It gets a
// version from the node's hybrid logical clock (or, for a conditional
// write, from the master that Decides it), is stored here and sent to
// every master, which Replicates it (POST /local/<key> with the version in
// X-Diststore-Version). It is acknowledged only once every master of the
// current pair holds it. A master that cannot be reached is reported with
// "masterlost", replaced by the writer (election.Replace), and the write
// goes on to the new master before the client is answered. StoreLocal is
// the original's write to one node only.
//
// # Misses
//
// A key that is not held here is asked of a synced master over HTTP
// (either, at random; the other after a sixteenth of the multicast
// timeout, or at once when the first fails), whose "not found" is a 404,
// while the masters hold every key any node holds: every member's
// heartbeats say it holds no value stored with POST /local that a master
// may lack (FlagLocalKeys; a member of an older release, without
// FlagTellsLocal, may), and no original node is on the group. Otherwise
// it is asked for with a multicast "whohas".
// Holders answer "gotkey"; a synced master that does not hold it answers
// "nokey" to a member, so a key that no one holds is a 404 in about a round
// trip rather than after Config.MulticastTimeout. Keys travel in their wire
// form (store.WireKey). The value is fetched over HTTP from
// the first holder that answers, kept here and served. Concurrent misses
// of one key share one query. Without the group (or with no member heard
// on it, for a node that joins by unicast) a miss asks the synced masters
// over HTTP instead, at most two requests a round.
//
// # Original nodes
//
// Nodes of the original pydiststore may share the group (original.go):
// the membership loop learns them from their keycount answers, never
// counts them in an election, sends them only what they can read, and
// steers them to send their writes to this cluster's masters, where a
// POST /local from one is a write through the cluster (StoreLocal). The
// migrate loop (migrate.go) copies their keys to each synced master.
//
// # Peers
//
// The node makes its requests to other nodes through the Peers interface
// given in Config.Peers: package httpapi implements it over HTTP (the
// paths and headers named above are that implementation's; forwarded
// writes go on a replication stream per master, package repl), the tests
// with an in-memory table of nodes. A master applies a batch of forwarded
// writes with ReplicateBatch: Replicate's checks for each, one store
// transaction for all. The dump stream's format is this
// package's (dump.go): the node writes it and reads it.
package cluster
