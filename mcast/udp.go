package mcast

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// Defaults of UDPConfig.
const (
	DefaultGroupAddr = "239.255.41.83" // administratively scoped (RFC 2365)
	DefaultGroupPort = 4983            // pydiststore's multicast_port
	DefaultTTL       = 1               // stay on the local link
	DefaultQueueLen  = 1024            // Packets buffer, in datagrams
)

// UDPConfig configures ListenUDP. Zero values mean the documented default.
type UDPConfig struct {
	// Addr is the node's IPv4 address. The unicast socket binds
	// Addr:UnicastPort and multicast is sent from it. Required.
	Addr netip.Addr
	// UnicastPort is the unicast socket's port, where answers to this
	// node's queries arrive. 0 means a port the kernel picks (which no
	// firewall rule can allow: diststored defaults to a fixed one).
	UnicastPort uint16
	// Group is the multicast group and port. Zero means
	// DefaultGroupAddr:DefaultGroupPort.
	Group netip.AddrPort
	// Interface is where the group is joined and multicast is sent. Nil
	// means the interface whose address prefix contains Addr (InterfaceFor).
	Interface *net.Interface
	// TTL is the multicast time to live, in hops. 0 means DefaultTTL.
	TTL int
	// QueueLen is the Packets buffer, in datagrams. 0 means DefaultQueueLen.
	// When it is full, datagrams are dropped and counted DropQueueFull.
	QueueLen int
}

// withDefaults validates c and fills in its defaults.
func (c UDPConfig) withDefaults() (UDPConfig, error) {
	if !c.Addr.Is4() || c.Addr.IsUnspecified() || c.Addr.IsMulticast() {
		return c, fmt.Errorf("udp config: address %v is not a unicast IPv4 address", c.Addr)
	}
	if c.Group == (netip.AddrPort{}) {
		c.Group = netip.AddrPortFrom(netip.MustParseAddr(DefaultGroupAddr), DefaultGroupPort)
	}
	if !c.Group.Addr().Is4() || !c.Group.Addr().IsMulticast() || c.Group.Port() == 0 {
		return c, fmt.Errorf("udp config: group %v is not an IPv4 multicast address and port", c.Group)
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < 0 || c.TTL > 255 {
		return c, fmt.Errorf("udp config: ttl %d out of range 0-255", c.TTL)
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.QueueLen < 0 {
		return c, fmt.Errorf("udp config: negative queue length %d", c.QueueLen)
	}
	return c, nil
}

// InterfaceFor returns the interface with the most specific address prefix
// containing addr: for 127.0.2.5 that is lo, which holds 127.0.0.1/8.
func InterfaceFor(addr netip.Addr) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("interface for %v: %w", addr, err)
	}
	var best *net.Interface
	bestBits := -1
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue // an interface that vanished meanwhile
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			bits, _ := ipn.Mask.Size()
			p := netip.PrefixFrom(ip.Unmap(), bits)
			if p.IsValid() && p.Contains(addr) && bits > bestBits {
				best, bestBits = &ifs[i], bits
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("interface for %v: no interface has an address prefix containing it", addr)
	}
	return best, nil
}

// udpTransport is the real Transport: a group socket that receives
// multicast, and a unicast socket that receives answers and sends
// everything.
type udpTransport struct {
	group netip.AddrPort
	local netip.AddrPort
	gconn *net.UDPConn // bound to the group address and port, joined on the interface
	uconn *net.UDPConn // bound to Addr:0; the source of everything sent

	packets chan Packet
	wg      sync.WaitGroup // the two readers
	closed  atomic.Bool
	close   sync.Once
	cnt     counters
}

var _ Transport = (*udpTransport)(nil)

// ListenUDP opens the group and unicast sockets described by cfg, joins the
// group and starts one reader goroutine per socket; Close stops them.
func ListenUDP(cfg UDPConfig) (Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ifi := cfg.Interface
	if ifi == nil {
		if ifi, err = InterfaceFor(cfg.Addr); err != nil {
			return nil, err
		}
	}

	// The unicast socket: answers come here, and multicast leaves from it
	// on ifi, looped back so that other nodes on this host hear it.
	uaddr := netip.AddrPortFrom(cfg.Addr, cfg.UnicastPort)
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(uaddr))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen unicast on %v: %w (another node on this address? give each its own address or unicast port)", uaddr, err)
		}
		return nil, fmt.Errorf("listen unicast on %v: %w", uaddr, err)
	}
	up := ipv4.NewPacketConn(uc)
	err = up.SetMulticastInterface(ifi)
	if err == nil {
		err = up.SetMulticastTTL(cfg.TTL)
	}
	if err == nil {
		err = up.SetMulticastLoopback(true)
	}
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("set multicast options (interface %s, ttl %d, loopback) on %v: %w", ifi.Name, cfg.TTL, cfg.Addr, err)
	}

	// The group socket: bound to the group address, not 0.0.0.0, so it gets
	// nothing but the group's datagrams, shared by every node on this host.
	lc := net.ListenConfig{Control: groupSocketControl}
	pc, err := lc.ListenPacket(context.Background(), "udp4", cfg.Group.String())
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("listen group %v: %w", cfg.Group, err)
	}
	gc := pc.(*net.UDPConn)
	gaddr := &net.UDPAddr{IP: cfg.Group.Addr().AsSlice()}
	if err := ipv4.NewPacketConn(gc).JoinGroup(ifi, gaddr); err != nil {
		uc.Close()
		gc.Close()
		return nil, fmt.Errorf("join group %v on %s: %w", cfg.Group.Addr(), ifi.Name, err)
	}

	// A burst of datagrams (a node joining, many misses at once) must not
	// overflow the default receive buffer; the kernel caps this at
	// net.core.rmem_max, which is fine: it is only a wish.
	_ = gc.SetReadBuffer(recvBuffer)
	_ = uc.SetReadBuffer(recvBuffer)

	t := &udpTransport{
		group:   cfg.Group,
		local:   netip.AddrPortFrom(cfg.Addr, uint16(uc.LocalAddr().(*net.UDPAddr).Port)),
		gconn:   gc,
		uconn:   uc,
		packets: make(chan Packet, cfg.QueueLen),
	}
	t.wg.Add(2)
	go t.read(gc, true)
	go t.read(uc, false)
	return t, nil
}

// recvBuffer is the receive buffer asked for each socket, in bytes.
const recvBuffer = 4 << 20

func (t *udpTransport) LocalAddr() netip.AddrPort { return t.local }
func (t *udpTransport) Packets() <-chan Packet    { return t.packets }
func (t *udpTransport) Stats() Stats              { return t.cnt.stats() }

func (t *udpTransport) Multicast(b []byte) error {
	return t.send("multicast", t.group, b)
}

func (t *udpTransport) Unicast(to netip.AddrPort, b []byte) error {
	return t.send("unicast", to, b)
}

func (t *udpTransport) send(what string, to netip.AddrPort, b []byte) error {
	if err := checkSend(t.closed.Load(), to, b); err != nil {
		return fmt.Errorf("%s to %v: %w", what, to, err)
	}
	if _, err := t.uconn.WriteToUDPAddrPort(b, to); err != nil {
		return fmt.Errorf("%s to %v: %w", what, to, err)
	}
	t.cnt.sent.Add(1)
	return nil
}

// checkSend holds the send preconditions shared by both transports.
func checkSend(closed bool, to netip.AddrPort, b []byte) error {
	switch {
	case closed:
		return net.ErrClosed
	case len(b) > MaxDatagram:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxDatagram)
	case !to.Addr().Is4() || to.Port() == 0:
		return errors.New("not an IPv4 address and port")
	}
	return nil
}

// read delivers the datagrams of c until c is closed.
func (t *udpTransport) read(c *net.UDPConn, group bool) {
	defer t.wg.Done()
	buf := make([]byte, MaxDatagram+1) // one spare byte reveals oversize datagrams
	backoff := time.Duration(0)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || t.closed.Load() {
				return
			}
			// A transient error (e.g. ENOBUFS) loses one datagram,
			// never the listener. Errors that repeat back off, up to a
			// second, so they cannot spin.
			t.cnt.drop(DropReadError)
			backoff = min(max(2*backoff, time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if n > MaxDatagram {
			t.cnt.drop(DropOversize)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		t.cnt.offer(t.packets, Packet{From: from, Data: append([]byte(nil), buf[:n]...), Group: group})
	}
}

// Close closes both sockets, waits for the readers, then closes Packets.
func (t *udpTransport) Close() error {
	var err error
	t.close.Do(func() {
		t.closed.Store(true)
		err = errors.Join(t.gconn.Close(), t.uconn.Close())
		t.wg.Wait()
		close(t.packets)
	})
	return err
}
