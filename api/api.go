// Package api holds the JSON documents of diststore's HTTP API, defined
// once for the node that encodes them and the clients that decode them:
// the node's package cluster builds a Status, httpapi serves it as
// GET /status, and the diststore CLI, which speaks HTTP only and never
// imports the node's packages, reads it back.
//
// The JSON names are part of the API: add fields, never rename or remove
// one.
package api

// Status is the node's view of the cluster, GET /status.
type Status struct {
	Addr     string   `json:"addr"`      // this node's address
	Masters  []string `json:"masters"`   // the master pair it holds, [] if none known
	Epoch    uint64   `json:"epoch"`     // the pair's epoch
	IsMaster bool     `json:"is_master"` // this node is one of the masters
	Synced   bool     `json:"synced"`    // a master that holds every key
	Ready    bool     `json:"ready"`     // joined, and the masters are known (GET /readyz)
	// Reconciling: this node holds entries from before it was demoted or
	// restarted that it has not yet verified on every master (after
	// writing back what they lack); until then reads skip them and they
	// stay on its disk.
	Reconciling bool           `json:"reconciling"`
	Keys        int            `json:"keys"`         // keys held durably
	Cached      int            `json:"cached"`       // copies in the cache
	CacheMB     float64        `json:"cache_mib"`    // memory those copies take, in MiB
	Members     []MemberStatus `json:"members"`      // by address, this node included
	Local       uint64         `json:"reads_local"`  // GET /get served from what this node holds
	Remote      uint64         `json:"reads_remote"` // GET /get fetched from another node
	Misses      uint64         `json:"reads_missed"` // GET /get that no node could answer
	// Secure: the node has a cluster key, so it seals its datagrams and
	// node-to-node requests must prove the key. Without one any host on
	// the LAN can join the cluster.
	Secure bool `json:"secure"`
	// ClientTokens: the client API needs a token.
	ClientTokens bool `json:"client_tokens"`
	// Migration is the copy of the keys of the original pydiststore's
	// nodes to the masters; present only while original nodes are on the
	// group.
	Migration *Migration `json:"migration,omitempty"`
}

// Migration is how far the masters are in copying the keys of the
// original nodes on the group (see docs/original.md).
type Migration struct {
	Originals    int    `json:"originals"`     // original nodes on the group
	OriginalKeys uint64 `json:"original_keys"` // the keys they say they hold, summed (a key two hold counts twice)
	// Done: every master of the pair says it holds every key that every
	// original node listed at its last copy. An original node can then
	// be stopped without losing a key.
	Done bool `json:"done"`
	// Pending are the masters that do not say so yet.
	Pending []string `json:"pending"`
}

// MemberStatus is one member as Status reports it.
type MemberStatus struct {
	Addr   string `json:"addr"`
	Keys   uint64 `json:"keys"`   // as its last heartbeat said
	Master bool   `json:"master"` // in the pair this node holds
	Synced bool   `json:"synced"` // a master that holds every key
	// Kind is "diststore" for a node of this cluster, "original" for a
	// node of the original pydiststore heard on the group (it answers
	// keycount and sends no heartbeat; Keys is its answer). An original
	// node is never a master of this cluster.
	Kind string `json:"kind"`
	// Migrated: a synced master that says it holds every key of every
	// original node it knows.
	Migrated bool `json:"migrated,omitempty"`
	// Missing: in a master's own status, for an original node, the keys
	// it listed at this master's last copy that this master does not
	// hold yet.
	Missing int `json:"missing,omitempty"`
	// Found says how this node first heard of the member: "group" (its
	// heartbeat on the multicast group), "join" (a --join address of this
	// node, or it contacted this node by unicast itself) or "gossip"
	// (another member listed it). Empty for this node itself and for
	// original nodes.
	Found string `json:"found,omitempty"`
}

// How a member was found (MemberStatus.Found).
const (
	FoundGroup  = "group"
	FoundJoin   = "join"
	FoundGossip = "gossip"
)

// Kinds of member.
const (
	KindDiststore = "diststore"
	KindOriginal  = "original"
)

// RestoreResult is what a master did with the entries of a restore,
// POST /admin/restore.
type RestoreResult struct {
	Node    string `json:"node"`    // the master's address
	Read    int    `json:"read"`    // entries in the stream
	Applied int    `json:"applied"` // stored: newer than what the master held
	Older   int    `json:"older"`   // not stored: the master held the key at that version or newer
	Expired int    `json:"expired"` // not stored: expired already
	Refused int    `json:"refused"` // not stored: version too far ahead of the master's clock
}
