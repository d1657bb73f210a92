package store

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClock_RefusesVersionsBeyondTheSkew(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := NewClock(netip.MustParseAddr("127.0.2.1"), func() time.Time { return now }, time.Minute)
	ms := func(d time.Duration) uint64 { return uint64(now.Add(d).UnixMilli()) << 16 }
	for _, tc := range []struct {
		name string
		v    Version
		ok   bool
	}{
		{"now", Version{Clock: ms(0)}, true},
		{"in the past", Version{Clock: ms(-time.Hour)}, true},
		{"zero", Version{}, true},
		{"just inside the skew", Version{Clock: ms(time.Minute) | 0xffff, Node: math.MaxUint32}, true},
		{"just past the skew", Version{Clock: ms(time.Minute + time.Millisecond)}, false},
		{"a year ahead", Version{Clock: ms(365 * 24 * time.Hour)}, false},
		{"the end of the range", Version{Clock: math.MaxUint64, Node: math.MaxUint32}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Next()
			err := c.Observe(tc.v)
			if tc.ok {
				require.NoError(t, err)
				assert.True(t, c.Next().Newer(tc.v), "the clock moved past it")
				return
			}
			require.ErrorIs(t, err, ErrClockSkew)
			assert.True(t, errors.Is(c.Check(tc.v), ErrClockSkew))
			next := c.Next()
			assert.True(t, next.Newer(before))
			assert.LessOrEqual(t, next.Clock>>16, ms(time.Minute+time.Millisecond)>>16,
				"a refused version does not move the clock past the skew")
		})
	}
}

func TestClock_NeverWraps(t *testing.T) {
	// A wall clock at the end of the range (which no real clock is): Next
	// saturates rather than wrap to 0.
	end := time.UnixMilli(math.MaxInt64)
	c := NewClock(netip.MustParseAddr("127.0.2.1"), func() time.Time { return end }, time.Minute)
	prev := c.Next()
	for range 70000 { // more than the 16-bit counter holds
		v := c.Next()
		require.False(t, prev.Newer(v), "went backwards: %s after %s", v, prev)
		prev = v
	}
	assert.NotZero(t, prev.Clock>>16)
}
