package forge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/diststore/diststore/mcast"
)

// DefaultGroup is diststore's default multicast group and port.
var DefaultGroup = netip.AddrPortFrom(netip.MustParseAddr(mcast.DefaultGroupAddr), mcast.DefaultGroupPort)

// Conn is a UDP socket a forger sends from and receives on.
type Conn struct {
	c     *net.UDPConn
	local netip.AddrPort
	group netip.AddrPort
}

// Listen binds a UDP socket to local (port 0: any free port) that sends to
// group (zero: DefaultGroup) on the interface holding local's address,
// with TTL 1 and multicast loopback on, as a node does. Binding another
// node's address with another port is how a forged source address looks
// on loopback.
func Listen(local, group netip.AddrPort) (*Conn, error) {
	if group == (netip.AddrPort{}) {
		group = DefaultGroup
	}
	ifi, err := mcast.InterfaceFor(local.Addr())
	if err != nil {
		return nil, err
	}
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("forge: bind %v: %w", local, err)
	}
	pc := ipv4.NewPacketConn(uc)
	err = pc.SetMulticastInterface(ifi)
	if err == nil {
		err = pc.SetMulticastTTL(1)
	}
	if err == nil {
		err = pc.SetMulticastLoopback(true)
	}
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("forge: multicast options on %v (interface %s): %w", local, ifi.Name, err)
	}
	bound := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	return &Conn{c: uc, local: netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port()), group: group}, nil
}

// LocalAddr is the address and port the socket is bound to: the source of
// everything it sends.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Group is where SendGroup sends.
func (c *Conn) Group() netip.AddrPort { return c.group }

// SendGroup sends b to the multicast group.
func (c *Conn) SendGroup(b []byte) error { return c.SendTo(c.group, b) }

// SendTo sends b to one address and port (a node's unicast port, or the
// group).
func (c *Conn) SendTo(to netip.AddrPort, b []byte) error {
	if _, err := c.c.WriteToUDPAddrPort(b, to); err != nil {
		return fmt.Errorf("forge: send %d bytes from %v to %v: %w", len(b), c.local, to, err)
	}
	return nil
}

// Datagram is one datagram a Conn received.
type Datagram struct {
	From netip.AddrPort
	Data []byte
}

// Collect reads datagrams until none arrives for quiet, or limit has passed
// since the call, whichever comes first, and returns them. At most
// mcast.MaxDatagram+1 bytes of each are kept.
func (c *Conn) Collect(quiet, limit time.Duration) ([]Datagram, error) {
	var out []Datagram
	end := time.Now().Add(limit)
	buf := make([]byte, mcast.MaxDatagram+1)
	for time.Now().Before(end) {
		dl := time.Now().Add(quiet)
		if dl.After(end) {
			dl = end
		}
		if err := c.c.SetReadDeadline(dl); err != nil {
			return out, err
		}
		n, from, err := c.c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("forge: read on %v: %w", c.local, err)
		}
		out = append(out, Datagram{
			From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()),
			Data: append([]byte(nil), buf[:n]...),
		})
	}
	return out, nil
}

// Close closes the socket; it is safe to call more than once.
func (c *Conn) Close() error {
	err := c.c.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
