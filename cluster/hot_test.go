package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHotKeys(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h := newHotKeys(3, time.Minute, clk.now)
	assert.False(t, h.read("k"))
	assert.False(t, h.read("k"))
	assert.True(t, h.read("k"), "the third read within the window keeps a copy")

	assert.False(t, h.read("cold"))
	clk.advance(2 * time.Minute)
	assert.False(t, h.read("cold"), "reads older than the window do not count")
	assert.False(t, h.read("cold"))
	assert.True(t, h.read("cold"))

	every := newHotKeys(1, time.Minute, clk.now)
	assert.True(t, every.read("k"), "1 is the original's copy on every read")
}
