package mcast

import (
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Packet is one received datagram.
type Packet struct {
	From  netip.AddrPort // the datagram's source
	Data  []byte         // at most MaxDatagram bytes, owned by the receiver
	Group bool           // true if it arrived on the group (multicast) socket, false if unicast to LocalAddr
}

// Transport is the I/O seam between a node and the network: it sends
// datagrams to the group or to one node and delivers every datagram it
// receives, its own multicasts included. It neither encodes nor filters.
// All methods are safe for concurrent use.
type Transport interface {
	// LocalAddr is the unicast address answers to this node go to.
	LocalAddr() netip.AddrPort
	// Multicast sends b to the group. b longer than MaxDatagram is
	// ErrTooLarge; after Close the error wraps net.ErrClosed.
	Multicast(b []byte) error
	// Unicast sends b to one node, with the same errors as Multicast.
	Unicast(to netip.AddrPort, b []byte) error
	// Packets delivers every received datagram. When the consumer falls
	// behind, datagrams are dropped (DropQueueFull), never queued without
	// bound. The channel is closed once Close has returned.
	Packets() <-chan Packet
	// Stats returns a snapshot of the transport's counters.
	Stats() Stats
	// Close stops the transport and waits for its goroutines. It is safe to
	// call more than once.
	Close() error
}

// Stats counts a transport's datagrams.
type Stats struct {
	Sent     uint64            // datagrams handed to the network
	Received uint64            // datagrams delivered on Packets
	Dropped  map[string]uint64 // received datagrams not delivered, by reason (Drop*); a copy
}

// Reasons a received datagram is dropped, the keys of Stats.Dropped.
const (
	DropOversize  = "oversize"   // longer than MaxDatagram
	DropQueueFull = "queue_full" // the Packets channel was full
	DropReadError = "read_error" // the socket returned an error other than closure
)

// counters holds the Stats of one transport.
type counters struct {
	sent, received atomic.Uint64

	mu      sync.Mutex
	dropped map[string]uint64 // guarded by mu
}

func (c *counters) drop(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == nil {
		c.dropped = make(map[string]uint64)
	}
	c.dropped[reason]++
}

func (c *counters) stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := maps.Clone(c.dropped)
	if d == nil {
		d = map[string]uint64{}
	}
	return Stats{Sent: c.sent.Load(), Received: c.received.Load(), Dropped: d}
}

// offer delivers p on ch without blocking, counting the outcome.
func (c *counters) offer(ch chan<- Packet, p Packet) {
	select {
	case ch <- p:
		c.received.Add(1)
	default:
		c.drop(DropQueueFull)
	}
}
