package cluster

import (
	"context"
	"io"
	"net/netip"

	"github.com/diststore/diststore/store"
)

// Peers carries the requests a node makes to other nodes. Package httpapi
// implements it over HTTP, beside the server that answers it; the
// cluster's tests use an in-memory table of nodes.
//
// to is the other node's address and port. An error that wraps none of
// the sentinel errors named below means the node could not be reached or
// did not answer in time (a network error, a deadline); the node then
// probes it before it counts it as gone.
type Peers interface {
	// Forward stores e (a tombstone if e.Deleted) under key on the node at
	// to, a master of the writer's pair, keeping e's version; epoch is the
	// writer's master epoch (0: unknown). A refusal is ErrNotMaster (the
	// node is not a master and knows a pair at least as new),
	// ErrPrecondition, or ErrMasterRefused for any other. It returns the
	// version the node holds afterwards: newer than e's if a newer write
	// of the key was there first.
	Forward(ctx context.Context, to netip.AddrPort, key string, e store.Entry, epoch uint64) (store.Version, error)
	// Decide asks the master at to to decide a conditional write: it
	// checks cond against what it holds, versions e and stores it. It
	// returns the version the master gave. Refusals are those of Forward.
	Decide(ctx context.Context, to netip.AddrPort, key string, e store.Entry, cond Condition) (store.Version, error)
	// Fetch reads the live entry the node at to holds for key, durably or
	// in its cache: ErrNotFound if it holds none, ErrTooLarge if the value
	// is larger than the node's MaxValueSize.
	Fetch(ctx context.Context, to netip.AddrPort, key string) (store.Entry, error)
	// Dump opens the stream of every entry the node at to holds, in the
	// dump format (see WriteDump); without values when values is false.
	// ctx bounds the whole stream, however long; the caller closes it.
	Dump(ctx context.Context, to netip.AddrPort, values bool) (io.ReadCloser, error)
	// Probe reports whether the node at to answers at all: nil if it does.
	Probe(ctx context.Context, to netip.AddrPort) error
	// Digest reads the Digest of what the node at to holds durably.
	Digest(ctx context.Context, to netip.AddrPort) (Digest, error)
	// ListOriginal reads the keys a node of the original pydiststore at
	// to lists (GET /list) and calls fn with each, as that node holds it
	// (its wire form: store.KeyFromWire reads it), until fn returns an
	// error, which it returns. A line longer than store.MaxWireKeyLen is
	// an error. ctx bounds the whole list.
	ListOriginal(ctx context.Context, to netip.AddrPort, fn func(token string) error) error
	// FetchOriginal reads the value an original node at to holds under
	// token (GET /getlocal/<token>, the token sent as it is): ErrNotFound
	// if it holds none, ErrTooLarge if the value is larger than the
	// node's MaxValueSize.
	FetchOriginal(ctx context.Context, to netip.AddrPort, token string) ([]byte, error)
	// Close releases what the implementation holds (idle connections).
	// The node calls it once, from its own Close, after its goroutines
	// have stopped.
	Close() error
}

// peer is the address other nodes' HTTP API answers on at a.
func (n *Node) peer(a netip.Addr) netip.AddrPort {
	return netip.AddrPortFrom(a, uint16(n.cfg.HTTPPort))
}
