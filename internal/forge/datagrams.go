package forge

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/diststore/diststore/mcast"
)

// Versions a forger likes to use, in the "<clock hex>-<node hex>" form of
// ETags, X-Diststore-Version and inval datagrams.
const (
	// MaxVersion is the highest version there is: left in a store it would
	// win over every later write of its key.
	MaxVersion = "ffffffffffffffff-ffffffff"
	// MaxClock is the highest clock, the one an inval uses to push a
	// node's clock to the top of its range.
	MaxClock = ^uint64(0)
)

// ClockAt returns the hybrid-clock value of wall time t with counter 0, as
// a node's clock would hand it out: Unix milliseconds shifted left 16.
func ClockAt(t time.Time) uint64 { return uint64(t.UnixMilli()) << 16 }

// VersionAt returns the version "<clock hex>-<node hex>" of wall time t
// written by node.
func VersionAt(t time.Time, node uint32) string {
	return fmt.Sprintf("%x-%x", ClockAt(t), node)
}

// build returns m as mcast.Encode writes it, or, when Encode refuses m,
// the raw text the forger asked for.
func build(m mcast.Message, raw func() string) []byte {
	if b, err := m.Encode(); err == nil {
		return b
	}
	return []byte(raw())
}

// addrText is a's wire form, "-" for an invalid address.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

// Heartbeat returns "hb 1 <addr> <keys> <epoch> <m1|-> <m2|-> <flags>": addr
// says it holds keys keys and the pair masters at epoch. More than two
// masters are written as they are (a node refuses that as malformed).
func Heartbeat(addr netip.Addr, keys, epoch uint64, masters []netip.Addr, flags mcast.Flags) []byte {
	m := mcast.Message{Kind: mcast.Heartbeat, Addr: addr, N: keys, Epoch: epoch, Masters: masters, Flags: flags}
	return build(m, func() string {
		ms := make([]string, 0, max(2, len(masters)))
		for _, a := range masters {
			ms = append(ms, addrText(a))
		}
		for len(ms) < 2 {
			ms = append(ms, "-")
		}
		return fmt.Sprintf("hb 1 %s %d %d %s %x", addrText(addr), keys, epoch, strings.Join(ms, " "), uint8(flags))
	})
}

// Bye returns "bye 1 <addr>": addr leaves the cluster.
func Bye(addr netip.Addr) []byte {
	return build(mcast.Message{Kind: mcast.Bye, Addr: addr}, func() string {
		return "bye 1 " + addrText(addr)
	})
}

// MasterLost returns "masterlost <who> <master>": who could not reach
// master.
func MasterLost(who, master netip.Addr) []byte {
	return build(mcast.Message{Kind: mcast.MasterLost, Addr: who, Master: master}, func() string {
		return "masterlost " + addrText(who) + " " + addrText(master)
	})
}

// Invalidate returns "inval 1 <key> <addr> <clock hex>-<node hex> <flags>":
// addr says key now has that version (deleted with mcast.FlagDeleted).
func Invalidate(key string, addr netip.Addr, clock uint64, node uint32, flags mcast.Flags) []byte {
	m := mcast.Message{Kind: mcast.Invalidate, Key: key, Addr: addr, Version: mcast.Stamp{Clock: clock, Node: node}, Flags: flags}
	return build(m, func() string {
		return fmt.Sprintf("inval 1 %s %s %x-%x %x", key, addrText(addr), clock, node, uint8(flags))
	})
}

// WhoHas returns "whohas <key> <ip> <port>": who holds key? Answer to
// ip:port — any address, not necessarily the sender's.
func WhoHas(key string, answerTo netip.AddrPort) []byte {
	m := mcast.Message{Kind: mcast.WhoHas, Key: key, Addr: answerTo.Addr(), Port: answerTo.Port()}
	return build(m, func() string {
		return fmt.Sprintf("whohas %s %s %d", key, addrText(answerTo.Addr()), answerTo.Port())
	})
}

// KeyCount returns the query "keycount <ip> <port>": everyone, say your
// key count to ip:port.
func KeyCount(answerTo netip.AddrPort) []byte {
	m := mcast.Message{Kind: mcast.KeyCount, Addr: answerTo.Addr(), N: uint64(answerTo.Port())}
	return build(m, func() string {
		return fmt.Sprintf("keycount %s %d", addrText(answerTo.Addr()), answerTo.Port())
	})
}

// GotKey returns the answer "gotkey <key> <holder>": holder has key.
func GotKey(key string, holder netip.Addr) []byte {
	return build(mcast.Message{Kind: mcast.GotKey, Key: key, Addr: holder}, func() string {
		return "gotkey " + key + " " + addrText(holder)
	})
}

// NoKey returns the answer "nokey 1 <key> <master> <epoch>": master, at
// epoch, does not hold key.
func NoKey(key string, master netip.Addr, epoch uint64) []byte {
	return build(mcast.Message{Kind: mcast.NoKey, Key: key, Addr: master, Epoch: epoch}, func() string {
		return fmt.Sprintf("nokey 1 %s %s %d", key, addrText(master), epoch)
	})
}
