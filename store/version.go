package store

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrBadVersion is returned when a version string cannot be parsed.
var ErrBadVersion = errors.New("malformed version")

// ErrClockSkew: a version is further ahead of this node's wall clock than
// the clock's maximum skew allows. It comes from a node whose clock is
// wrong, or from a forger: accepting it would move this node's clock (and
// every write after it) into the future, or freeze the key.
var ErrClockSkew = errors.New("version too far ahead of this node's clock")

// DefaultMaxSkew is how far ahead of the wall clock a version may be when
// NewClock is given no bound.
const DefaultMaxSkew = time.Minute

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
// version it has observed, but never past its wall clock plus its maximum
// skew (after CockroachDB's hlc.MaxOffset): a version further ahead is
// refused, so one bad version cannot drag the clock to its end and wrap it.
type Clock struct {
	node    uint32
	now     func() time.Time
	maxSkew time.Duration

	mu   sync.Mutex // guards last
	last uint64
}

// NewClock returns a Clock for the node with the given address. now may be
// nil for time.Now; maxSkew 0 means DefaultMaxSkew.
func NewClock(node netip.Addr, now func() time.Time, maxSkew time.Duration) *Clock {
	if now == nil {
		now = time.Now
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	return &Clock{node: NodeID(node), now: now, maxSkew: maxSkew}
}

// physical is the hybrid clock's reading of wall time plus d, saturating
// at the ends of its range.
func physical(t time.Time, d time.Duration) uint64 {
	ms := t.Add(d).UnixMilli()
	switch {
	case ms <= 0:
		return 0
	case uint64(ms) >= math.MaxUint64>>16:
		return math.MaxUint64 &^ 0xffff
	}
	return uint64(ms) << 16
}

// Check reports ErrClockSkew if v is further ahead of the wall clock than
// the maximum skew.
func (c *Clock) Check(v Version) error {
	if limit := physical(c.now(), c.maxSkew) | 0xffff; v.Clock > limit {
		ahead := time.Duration(v.Clock>>16-limit>>16) * time.Millisecond
		return fmt.Errorf("%w: %s is %s past the %s allowed", ErrClockSkew, v, ahead, c.maxSkew)
	}
	return nil
}

// Next returns a version newer than every version handed out or observed.
// At the very end of its range (which the skew bound keeps it from) it
// stays there rather than wrap.
func (c *Clock) Next() Version {
	phys := physical(c.now(), 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if phys > c.last {
		c.last = phys
	} else if c.last < math.MaxUint64 {
		c.last++
	}
	return Version{Clock: c.last, Node: c.node}
}

// Observe moves the clock past v, so the next version is newer than v. It
// refuses, with ErrClockSkew and without moving, a v that Check refuses.
func (c *Clock) Observe(v Version) error {
	if err := c.Check(v); err != nil {
		return err
	}
	c.mu.Lock()
	if v.Clock > c.last {
		c.last = v.Clock
	}
	c.mu.Unlock()
	return nil
}
