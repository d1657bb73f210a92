package mcast

import (
	"fmt"
	"net/netip"
	"sync"
)

// Sealer seals and opens datagrams with the cluster key (package
// clusterkey's Ring).
type Sealer interface {
	// Seal returns msg sealed, with ad authenticated along with it.
	Seal(msg, ad []byte) []byte
	// Open returns the message of a datagram Seal made with the same ad,
	// or an error that says why not.
	Open(b, ad []byte) ([]byte, error)
}

// SealOverhead bounds what a Sealer adds to a datagram, in bytes: sealed
// messages are at most MaxDatagram-SealOverhead bytes, so that every
// sealed datagram still fits in MaxDatagram.
const SealOverhead = 128

// sealedTransport seals what it sends and opens what it receives, on top
// of another transport. What does not open is dropped and counted by the
// reason the Sealer gives.
type sealedTransport struct {
	inner  Transport
	sealer Sealer
	reason func(error) string
	ad     []byte // the group and port, bound into every datagram

	packets chan Packet
	done    sync.WaitGroup // the opener goroutine
	cnt     counters       // received and dropped here; sent is inner's
}

// Sealed returns a Transport that seals every datagram it sends with s and
// delivers only the datagrams that open, each bound to group (a datagram
// sealed for another group or port does not open). reason labels an Open
// error for Stats.Dropped, prefixed "sealed_". Close closes inner too.
func Sealed(inner Transport, s Sealer, group netip.AddrPort, reason func(error) string) Transport {
	t := &sealedTransport{
		inner:   inner,
		sealer:  s,
		reason:  reason,
		ad:      []byte(group.String()),
		packets: make(chan Packet, cap(inner.Packets())),
	}
	t.done.Add(1)
	go t.open()
	return t
}

// open delivers the datagrams of inner that open, until inner is closed.
func (t *sealedTransport) open() {
	defer t.done.Done()
	defer close(t.packets)
	for p := range t.inner.Packets() {
		msg, err := t.sealer.Open(p.Data, t.ad)
		if err != nil {
			t.cnt.drop("sealed_" + t.reason(err))
			continue
		}
		p.Data = msg
		t.cnt.offer(t.packets, p)
	}
}

func (t *sealedTransport) LocalAddr() netip.AddrPort { return t.inner.LocalAddr() }
func (t *sealedTransport) Packets() <-chan Packet    { return t.packets }

func (t *sealedTransport) Multicast(b []byte) error {
	if err := t.check(b); err != nil {
		return fmt.Errorf("multicast: %w", err)
	}
	return t.inner.Multicast(t.sealer.Seal(b, t.ad))
}

func (t *sealedTransport) Unicast(to netip.AddrPort, b []byte) error {
	if err := t.check(b); err != nil {
		return fmt.Errorf("unicast to %v: %w", to, err)
	}
	return t.inner.Unicast(to, t.sealer.Seal(b, t.ad))
}

func (t *sealedTransport) check(b []byte) error {
	if len(b) > MaxDatagram-SealOverhead {
		return fmt.Errorf("%w: %d bytes, limit %d when sealed", ErrTooLarge, len(b), MaxDatagram-SealOverhead)
	}
	return nil
}

// Stats counts what inner sent, what this transport delivered, and what
// either dropped.
func (t *sealedTransport) Stats() Stats {
	in, own := t.inner.Stats(), t.cnt.stats()
	for reason, n := range own.Dropped {
		in.Dropped[reason] += n
	}
	in.Received = own.Received
	return in
}

// Close closes inner, which ends the opener, and waits for it.
func (t *sealedTransport) Close() error {
	err := t.inner.Close()
	t.done.Wait()
	return err
}
