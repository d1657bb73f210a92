package mcast

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
)

// memQueueLen is the Packets buffer of a MemNetwork transport.
const memQueueLen = 1024

// memFirstPort is the first port MemNetwork hands out.
const memFirstPort = 40000

// MemNetwork is an in-memory network for tests that run several nodes in
// one process without sockets. Delivery is immediate and non-blocking; loss
// and partitions are under the test's control. The zero value is not
// usable; call NewMemNetwork.
type MemNetwork struct {
	mu       sync.Mutex
	nodes    map[netip.AddrPort]*memTransport // joined and not closed
	nextPort uint16                           // next LocalAddr port
	loss     float64                          // fraction of datagrams dropped
	rng      *rand.Rand                       // decides losses
	side     map[netip.Addr]int               // partition: address → group number; nil when healed
}

// NewMemNetwork returns an empty network with no loss and no partition. Its
// loss decisions are deterministic (see Seed).
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{
		nodes:    make(map[netip.AddrPort]*memTransport),
		nextPort: memFirstPort,
		rng:      rand.New(rand.NewPCG(1, 2)),
	}
}

// Join attaches a node with address addr and returns its transport, whose
// LocalAddr is addr and a port unique in this network. Several nodes may
// share an address, as on a real host.
func (n *MemNetwork) Join(addr netip.Addr) Transport {
	return n.join(addr, false)
}

// JoinNoGroup attaches a node that has no group, as on a network that
// carries no multicast: it neither hears multicast nor can send it
// (ErrNoGroup); unicast works as for Join.
func (n *MemNetwork) JoinNoGroup(addr netip.Addr) Transport {
	return n.join(addr, true)
}

func (n *MemNetwork) join(addr netip.Addr, noGroup bool) Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := &memTransport{
		net:     n,
		local:   netip.AddrPortFrom(addr, n.nextPort),
		packets: make(chan Packet, memQueueLen),
		noGroup: noGroup,
	}
	n.nextPort++
	n.nodes[t.local] = t
	return t
}

// SetLoss makes the network drop the fraction p (0 to 1) of datagrams, each
// copy of a multicast decided on its own.
func (n *MemNetwork) SetLoss(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss = min(max(p, 0), 1)
}

// Seed restarts the random source that decides losses, for a reproducible
// but different sequence.
func (n *MemNetwork) Seed(seed uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rng = rand.New(rand.NewPCG(seed, seed))
}

// Partition splits the network: datagrams pass only between addresses of
// the same group. Addresses named in no group form one more group together.
// Partition() with no arguments heals the network.
func (n *MemNetwork) Partition(groups ...[]netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(groups) == 0 {
		n.side = nil
		return
	}
	n.side = make(map[netip.Addr]int)
	for i, g := range groups {
		for _, a := range g {
			n.side[a] = i + 1 // unnamed addresses read 0
		}
	}
}

// route returns the transports that receive a datagram from `from`: the node
// at `to`, or every node when to is not valid (multicast).
func (n *MemNetwork) route(from, to netip.AddrPort) []*memTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var dst []*memTransport
	pass := func(t *memTransport) {
		if n.side != nil && n.side[from.Addr()] != n.side[t.local.Addr()] {
			return
		}
		if n.loss > 0 && n.rng.Float64() < n.loss {
			return
		}
		dst = append(dst, t)
	}
	if to.IsValid() {
		if t, ok := n.nodes[to]; ok {
			pass(t)
		}
		return dst
	}
	for _, t := range n.nodes {
		if !t.noGroup {
			pass(t)
		}
	}
	return dst
}

func (n *MemNetwork) leave(t *memTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.nodes, t.local)
}

// memTransport is one node's Transport on a MemNetwork.
type memTransport struct {
	net     *MemNetwork
	local   netip.AddrPort
	noGroup bool // JoinNoGroup: no multicast in or out

	mu      sync.Mutex // guards closed and sends on packets, so Close cannot race a delivery
	closed  bool
	packets chan Packet
	cnt     counters
}

var _ Transport = (*memTransport)(nil)

func (t *memTransport) LocalAddr() netip.AddrPort { return t.local }
func (t *memTransport) Packets() <-chan Packet    { return t.packets }
func (t *memTransport) Stats() Stats              { return t.cnt.stats() }

// Multicast delivers b to every node of the network, the sender included.
func (t *memTransport) Multicast(b []byte) error {
	if t.noGroup {
		return fmt.Errorf("multicast: %w", ErrNoGroup)
	}
	return t.send("multicast", netip.AddrPort{}, b)
}

// Unicast delivers b to the node whose LocalAddr is exactly to; datagrams to
// an unknown address vanish, as on a real network.
func (t *memTransport) Unicast(to netip.AddrPort, b []byte) error {
	if !to.IsValid() {
		return fmt.Errorf("unicast to %v: not an address and port", to)
	}
	return t.send("unicast", to, b)
}

func (t *memTransport) send(what string, to netip.AddrPort, b []byte) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	dst := to
	if !to.IsValid() {
		dst = t.local // checkSend wants an address; multicast has none here
	}
	if err := checkSend(closed, dst, b); err != nil {
		return fmt.Errorf("%s to %v: %w", what, to, err)
	}
	t.cnt.sent.Add(1)
	for _, r := range t.net.route(t.local, to) {
		r.deliver(Packet{From: t.local, Data: append([]byte(nil), b...), Group: !to.IsValid()})
	}
	return nil
}

func (t *memTransport) deliver(p Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.cnt.offer(t.packets, p)
	}
}

// Close detaches the node and closes Packets. It is safe to call twice.
func (t *memTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.net.leave(t)
	close(t.packets)
	return nil
}
