package forge

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/diststore/diststore/mcast"
)

// Handler is called by a Sniffer for every datagram it hears on the group
// that decodes, on the Sniffer's one goroutine: it must not block for long.
type Handler func(from netip.AddrPort, m mcast.Message)

// Sniffer listens on the group as a node does (mcast.ListenUDP, which
// shares the group port with the nodes of this host) and never sends:
// it is not a member. It learns each node's unicast port from the source
// of its heartbeats and hands every datagram it decodes to its handler.
//
// A cluster with a cluster key seals its datagrams, so a Sniffer without
// the key decodes none of them; their sources are still in the clear. A
// node multicasts from its unicast socket, so the source of a datagram
// that does not decode is taken as its sender's unicast port, for an
// address no heartbeat named yet.
type Sniffer struct {
	tr      mcast.Transport
	handler Handler
	done    chan struct{}

	mu     sync.Mutex
	ports  map[netip.Addr]uint16 // guarded by mu: each address's unicast port, as learnt
	fromHB map[netip.Addr]bool   // guarded by mu: ports[a] came from a heartbeat of a
	epoch  map[netip.Addr]uint64 // guarded by mu: the epoch of each address's last heartbeat
	heard  map[mcast.Kind]int    // guarded by mu: datagrams heard, by kind
	opaque int                   // guarded by mu: datagrams heard that did not decode
	wake   chan struct{}         // guarded by mu: closed and replaced when ports changes
}

// Sniff starts a Sniffer whose sockets are bound to addr (its unicast
// socket to an ephemeral port), joined to group (zero: DefaultGroup).
// handler may be nil.
func Sniff(addr netip.Addr, group netip.AddrPort, handler Handler) (*Sniffer, error) {
	tr, err := mcast.ListenUDP(mcast.UDPConfig{Addr: addr, Group: group})
	if err != nil {
		return nil, fmt.Errorf("forge: sniff on %v: %w", addr, err)
	}
	return sniffOn(tr, handler), nil
}

// sniffOn starts a Sniffer reading tr, which it closes on Close.
func sniffOn(tr mcast.Transport, handler Handler) *Sniffer {
	s := &Sniffer{tr: tr, handler: handler, done: make(chan struct{}),
		ports: map[netip.Addr]uint16{}, fromHB: map[netip.Addr]bool{}, epoch: map[netip.Addr]uint64{},
		heard: map[mcast.Kind]int{}, wake: make(chan struct{})}
	go s.run()
	return s
}

func (s *Sniffer) run() {
	defer close(s.done)
	for p := range s.tr.Packets() {
		if !p.Group {
			continue
		}
		m, err := mcast.Decode(p.Data)
		if err != nil {
			// Sealed, most likely: the source is all there is to read.
			s.mu.Lock()
			s.opaque++
			if !s.fromHB[p.From.Addr()] {
				s.learn(p.From)
			}
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.heard[m.Kind]++
		if m.Kind == mcast.Heartbeat {
			s.epoch[m.Addr] = m.Epoch
		}
		if m.Kind == mcast.Heartbeat && m.Addr == p.From.Addr() {
			s.fromHB[m.Addr] = true
			s.learn(p.From)
		}
		s.mu.Unlock()
		if s.handler != nil {
			s.handler(p.From, m)
		}
	}
}

// learn records from as its address's unicast port, waking WaitPorts if
// that changes it. s.mu must be held.
func (s *Sniffer) learn(from netip.AddrPort) {
	if p, ok := s.ports[from.Addr()]; ok && p == from.Port() {
		return
	}
	s.ports[from.Addr()] = from.Port()
	close(s.wake)
	s.wake = make(chan struct{})
}

// Ports returns the unicast port of every node heard so far: the source
// port of its heartbeats, which a node sends from its unicast socket, or,
// for a node none of whose datagrams decoded (sealed), the source port of
// the last of them.
func (s *Sniffer) Ports() map[netip.Addr]uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ports)
}

// Epoch returns the highest epoch the last heartbeats of addrs named:
// the epoch of the cluster's pair, as far as those nodes tell.
func (s *Sniffer) Epoch(addrs ...netip.Addr) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e uint64
	for _, a := range addrs {
		e = max(e, s.epoch[a])
	}
	return e
}

// Heard returns how many datagrams of kind k the Sniffer heard.
func (s *Sniffer) Heard(k mcast.Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heard[k]
}

// Opaque returns how many datagrams the Sniffer heard that did not decode:
// sealed with a cluster key it does not have, or not diststore's.
func (s *Sniffer) Opaque() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opaque
}

// WaitPorts waits until the unicast port of every address in addrs is
// known (from a heartbeat, or from any datagram that did not decode), or
// ctx ends, and returns their unicast addresses and ports.
func (s *Sniffer) WaitPorts(ctx context.Context, addrs ...netip.Addr) (map[netip.Addr]netip.AddrPort, error) {
	for {
		s.mu.Lock()
		out := map[netip.Addr]netip.AddrPort{}
		var missing []netip.Addr
		for _, a := range addrs {
			if p, ok := s.ports[a]; ok {
				out[a] = netip.AddrPortFrom(a, p)
			} else {
				missing = append(missing, a)
			}
		}
		wake := s.wake
		s.mu.Unlock()
		if len(missing) == 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return out, fmt.Errorf("forge: no heartbeat heard from %v: %w", missing, ctx.Err())
		}
	}
}

// Close stops the Sniffer and waits for its goroutine; it is safe to call
// more than once.
func (s *Sniffer) Close() error {
	err := s.tr.Close()
	<-s.done
	return err
}

// AnswerWhoHas returns a Handler that answers every whohas it hears with
// "gotkey <key> <holder>", sent from c to the address and port the query
// names, at once: the forger claims to hold every key. It adds the answers
// it sent to sent, if not nil.
func AnswerWhoHas(c *Conn, holder netip.Addr, sent *atomic.Int64) Handler {
	return func(_ netip.AddrPort, m mcast.Message) {
		if m.Kind != mcast.WhoHas || m.Addr == holder {
			return
		}
		if c.SendTo(netip.AddrPortFrom(m.Addr, m.Port), GotKey(m.Key, holder)) == nil && sent != nil {
			sent.Add(1)
		}
	}
}
