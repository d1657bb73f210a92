package store

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrBadVersion is returned when a version string cannot be parsed.
var ErrBadVersion = errors.New("malformed version")

// Version orders writes of one key. The zero Version is older than any
// version a Clock hands out.
type Version struct {
	// Clock is a hybrid logical clock: Unix milliseconds << 16 | counter.
	Clock uint64
	// Node is the writer's IPv4 address as a number; it breaks ties
	// between writes that carry the same Clock.
	Node uint32
}

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Clock < w.Clock:
		return -1
	case v.Clock > w.Clock:
		return 1
	case v.Node < w.Node:
		return -1
	case v.Node > w.Node:
		return 1
	}
	return 0
}

// Newer reports whether v is strictly newer than w.
func (v Version) Newer(w Version) bool { return v.Compare(w) > 0 }

// String renders v as "<clock hex>-<node hex>", the form used in ETags and
// in the X-Diststore-Version header.
func (v Version) String() string {
	return strconv.FormatUint(v.Clock, 16) + "-" + strconv.FormatUint(uint64(v.Node), 16)
}

// ParseVersion parses the form produced by Version.String.
func ParseVersion(s string) (Version, error) {
	c, n, ok := strings.Cut(s, "-")
	if !ok {
		return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	clock, err := strconv.ParseUint(c, 16, 64)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	node, err := strconv.ParseUint(n, 16, 32)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	return Version{Clock: clock, Node: uint32(node)}, nil
}

// NodeID turns an IPv4 address into the tie-breaker of a Version. Other
// addresses map to 0.
func NodeID(a netip.Addr) uint32 {
	if !a.Is4() && !a.Is4In6() {
		return 0
	}
	b := a.Unmap().As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Clock hands out versions for one node: a hybrid logical clock that never
// goes backwards, follows wall time where it can and moves past every
// version it has observed.
type Clock struct {
	node uint32
	now  func() time.Time

	mu   sync.Mutex // guards last
	last uint64
}

// NewClock returns a Clock for the node with the given address. now may be
// nil for time.Now.
func NewClock(node netip.Addr, now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{node: NodeID(node), now: now}
}

// Next returns a version newer than every version handed out or observed.
func (c *Clock) Next() Version {
	phys := uint64(c.now().UnixMilli()) << 16
	c.mu.Lock()
	defer c.mu.Unlock()
	if phys > c.last {
		c.last = phys
	} else {
		c.last++
	}
	return Version{Clock: c.last, Node: c.node}
}

// Observe moves the clock past v, so the next version is newer than v.
func (c *Clock) Observe(v Version) {
	c.mu.Lock()
	if v.Clock > c.last {
		c.last = v.Clock
	}
	c.mu.Unlock()
}
