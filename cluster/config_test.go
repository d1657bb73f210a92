package cluster

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestConfig_Validate(t *testing.T) {
	valid := Config{Addr: netip.MustParseAddr("127.0.2.1"), Peers: noPeers{}}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"Zero", func(*Config) {}, true},
		{"NoPeers", func(c *Config) { c.Peers = nil }, false},
		{"NoAddr", func(c *Config) { c.Addr = netip.Addr{} }, false},
		{"NegativeFetchTimeout", func(c *Config) { c.FetchTimeout = -time.Second }, false},
		{"NegativeProbeTimeout", func(c *Config) { c.ProbeTimeout = -time.Second }, false},
		{"NegativeDigestTimeout", func(c *Config) { c.DigestTimeout = -time.Second }, false},
		{"NegativeWriteBackTimeout", func(c *Config) { c.WriteBackTimeout = -time.Second }, false},
		{"NegativeDumpIdleTimeout", func(c *Config) { c.DumpIdleTimeout = -time.Second }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.edit(&c)
			err := c.Validate()
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrBadConfig)
		})
	}
}

// TestConfig_Defaults: a zero timeout is its default.
func TestConfig_Defaults(t *testing.T) {
	c := Config{}.withDefaults()
	assert.Equal(t, DefaultFetchTimeout, c.FetchTimeout)
	assert.Equal(t, DefaultProbeTimeout, c.ProbeTimeout)
	assert.Equal(t, DefaultDigestTimeout, c.DigestTimeout)
	assert.Equal(t, DefaultWriteBackTimeout, c.WriteBackTimeout)
	assert.Equal(t, DefaultDumpIdleTimeout, c.DumpIdleTimeout)
	d := DefaultConfig()
	d.Logger = c.Logger
	assert.Equal(t, d, c, "DefaultConfig and the defaults of a zero Config agree")
}
