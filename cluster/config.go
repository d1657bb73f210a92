package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/diststore/diststore/store"
)

// Defaults.
const (
	DefaultHTTPPort          = 8181
	DefaultMulticastPort     = 4983
	DefaultMulticastTimeout  = time.Second
	DefaultHeartbeatInterval = 500 * time.Millisecond
	DefaultFailureTimeout    = 3 * time.Second
	DefaultMaxValueSize      = 1 << 20
	DefaultCacheTTL          = 10 * time.Minute
	DefaultCacheMaxBytes     = 256 << 20
	DefaultTombstoneTTL      = 24 * time.Hour
	DefaultJanitorInterval   = 30 * time.Second
	DefaultCheckInterval     = 10 * time.Second
	DefaultAnswerFanout      = 1.0
	DefaultCacheMinReads     = 1
	DefaultMaxClockSkew      = store.DefaultMaxSkew
	DefaultFetchTimeout      = 5 * time.Second
	DefaultProbeTimeout      = time.Second
	DefaultDigestTimeout     = 5 * time.Second
	DefaultWriteBackTimeout  = 10 * time.Second
	DefaultDumpIdleTimeout   = 15 * time.Second
	DefaultOriginalInterval  = 5 * time.Second
	DefaultMigrateInterval   = 10 * time.Second
	DefaultGossipFanout      = 3
)

// DefaultGroup is the multicast group nodes meet on: administratively
// scoped (RFC 2365), so routers do not forward it off the site.
var DefaultGroup = netip.MustParseAddr("239.255.41.83")

// ErrBadConfig is wrapped by the errors Validate returns.
var ErrBadConfig = errors.New("bad configuration")

// Config is what a Node needs. Parsing files and flags belongs to cmd/;
// the cluster gets a finished Config.
type Config struct {
	// Addr is the node's own address: it serves HTTP on Addr:HTTPPort and
	// sends multicast from Addr. Required.
	Addr netip.Addr
	// HTTPPort is the HTTP port every node of the cluster serves on.
	// 0 means DefaultHTTPPort.
	HTTPPort int
	// MulticastTimeout is how long a query (whohas) waits for answers.
	// 0 means DefaultMulticastTimeout.
	MulticastTimeout time.Duration
	// HeartbeatInterval is how often the node announces itself, jittered by
	// ±10%. 0 means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// FailureTimeout is how long a member may stay silent before it is
	// considered gone. 0 means DefaultFailureTimeout. It must be at least
	// three heartbeat intervals.
	FailureTimeout time.Duration
	// MaxValueSize is the largest value in bytes the node stores or reads
	// from a peer. 0 means DefaultMaxValueSize.
	MaxValueSize int64
	// CacheTTL is how long a non-master keeps a copy it fetched or that
	// was written through it. 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// CacheMaxBytes bounds the heap memory the copies a non-master keeps
	// take, in bytes: keys, values and about 210 bytes of bookkeeping per
	// entry; the least recently used go first. 0 means
	// DefaultCacheMaxBytes.
	CacheMaxBytes int64
	// TombstoneTTL is how long a deleted key's tombstone is kept, so that
	// an older write arriving late or a node that was down during the
	// delete cannot bring the key back. 0 means DefaultTombstoneTTL.
	TombstoneTTL time.Duration
	// JanitorInterval is how often expired entries and old tombstones are
	// purged. 0 means DefaultJanitorInterval.
	JanitorInterval time.Duration
	// CheckInterval is how often a synced master compares a digest of its
	// data with the other master's and, when they differ, copies what it
	// lacks: a write whose client gave up half way may have reached one
	// master only. 0 means DefaultCheckInterval.
	CheckInterval time.Duration
	// AnswerFanout is how many non-master holders of a key answer a whohas,
	// on average, once the masters are synced (they always answer): each
	// answers with probability AnswerFanout/members. 0 means
	// DefaultAnswerFanout; a value at least the cluster's size makes every
	// holder answer, as the original did.
	AnswerFanout float64
	// CacheMinReads is how many reads of a key a non-master sees within
	// CacheTTL before it keeps a copy: 1 (the default, the original's
	// behaviour) keeps one on the first read; more keeps copies of hot keys
	// only. 0 means DefaultCacheMinReads.
	CacheMinReads int
	// MaxClockSkew is how far ahead of this node's wall clock a version may
	// be. A version further ahead (a node whose clock is wrong, or a
	// forger) is refused wherever it enters: a forwarded write, an
	// invalidation, a fetched value, a dump; entries already stored with
	// one are re-versioned at start. 0 means DefaultMaxClockSkew (1 min).
	MaxClockSkew time.Duration
	// FetchTimeout bounds one fetch of a missing key from a node that
	// holds it or from a master. 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// ProbeTimeout is how long a master that failed a request has to
	// answer a probe before the node counts it as gone and replaces it.
	// 0 means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// DigestTimeout bounds reading the other master's Digest, every
	// CheckInterval. 0 means DefaultDigestTimeout.
	DigestTimeout time.Duration
	// WriteBackTimeout bounds writing one entry to the masters when a
	// demoted node writes back what they lack. 0 means
	// DefaultWriteBackTimeout.
	WriteBackTimeout time.Duration
	// DumpIdleTimeout is how long a dump being read (a sync, a demoted
	// node's check) may bring no bytes before it is cut: a master that
	// hangs half way. The dump as a whole has no deadline. 0 means
	// DefaultDumpIdleTimeout.
	DumpIdleTimeout time.Duration
	// OriginalInterval is how often the node asks the group for the key
	// counts of nodes of the original pydiststore (a "keycount" query,
	// which the original answers and diststore members ignore), and so how
	// soon it notices one arrive; an original node that stops answering is
	// forgotten after three intervals. 0 means DefaultOriginalInterval.
	OriginalInterval time.Duration
	// MigrateInterval is how often a synced master copies, from every
	// original node on the group, the keys it lists that the master does
	// not hold (see migrate.go). 0 means DefaultMigrateInterval.
	MigrateInterval time.Duration
	// Seeds returns the unicast addresses (address and unicast port) of
	// the nodes to contact directly: diststored's --join, resolved and
	// kept up to date. nil means none. It is called from the membership
	// loop once per heartbeat and must not block.
	Seeds func() []netip.AddrPort
	// NoMulticast says the transport has no group (--multicast=false):
	// the node sends no multicast and resolves misses through the
	// masters over HTTP. It needs Seeds.
	NoMulticast bool
	// GossipFanout is how many members, drawn at random, a node that
	// joins by unicast (Seeds or NoMulticast) sends its heartbeat to each
	// interval besides the masters, and how many nodes it learnt by
	// gossip it contacts; see gossip.go. 0 means DefaultGossipFanout.
	GossipFanout int
	// Peers carries the node's requests to other nodes: httpapi's
	// PeerClient in the daemon, an in-memory table in tests. Required.
	// The node owns it and closes it on Close.
	Peers Peers
	// Logger receives the node's events. nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in; the caller
// sets Addr and Peers.
func DefaultConfig() Config {
	return Config{
		HTTPPort:          DefaultHTTPPort,
		MulticastTimeout:  DefaultMulticastTimeout,
		HeartbeatInterval: DefaultHeartbeatInterval,
		FailureTimeout:    DefaultFailureTimeout,
		MaxValueSize:      DefaultMaxValueSize,
		CacheTTL:          DefaultCacheTTL,
		CacheMaxBytes:     DefaultCacheMaxBytes,
		TombstoneTTL:      DefaultTombstoneTTL,
		JanitorInterval:   DefaultJanitorInterval,
		CheckInterval:     DefaultCheckInterval,
		AnswerFanout:      DefaultAnswerFanout,
		CacheMinReads:     DefaultCacheMinReads,
		MaxClockSkew:      DefaultMaxClockSkew,
		FetchTimeout:      DefaultFetchTimeout,
		ProbeTimeout:      DefaultProbeTimeout,
		DigestTimeout:     DefaultDigestTimeout,
		WriteBackTimeout:  DefaultWriteBackTimeout,
		DumpIdleTimeout:   DefaultDumpIdleTimeout,
		OriginalInterval:  DefaultOriginalInterval,
		MigrateInterval:   DefaultMigrateInterval,
		GossipFanout:      DefaultGossipFanout,
	}
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HTTPPort == 0 {
		c.HTTPPort = d.HTTPPort
	}
	if c.MulticastTimeout == 0 {
		c.MulticastTimeout = d.MulticastTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.FailureTimeout == 0 {
		c.FailureTimeout = d.FailureTimeout
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = d.MaxValueSize
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = d.CacheTTL
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = d.CacheMaxBytes
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = d.TombstoneTTL
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = d.JanitorInterval
	}
	if c.AnswerFanout == 0 {
		c.AnswerFanout = d.AnswerFanout
	}
	if c.CacheMinReads == 0 {
		c.CacheMinReads = d.CacheMinReads
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = d.CheckInterval
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = d.MaxClockSkew
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = d.FetchTimeout
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = d.ProbeTimeout
	}
	if c.DigestTimeout == 0 {
		c.DigestTimeout = d.DigestTimeout
	}
	if c.WriteBackTimeout == 0 {
		c.WriteBackTimeout = d.WriteBackTimeout
	}
	if c.DumpIdleTimeout == 0 {
		c.DumpIdleTimeout = d.DumpIdleTimeout
	}
	if c.OriginalInterval == 0 {
		c.OriginalInterval = d.OriginalInterval
	}
	if c.MigrateInterval == 0 {
		c.MigrateInterval = d.MigrateInterval
	}
	if c.GossipFanout == 0 {
		c.GossipFanout = DefaultGossipFanout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first problem with c, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case !c.Addr.IsValid():
		return fmt.Errorf("%w: no node address", ErrBadConfig)
	case !c.Addr.Is4():
		return fmt.Errorf("%w: node address %s is not IPv4", ErrBadConfig, c.Addr)
	case c.HTTPPort < 1 || c.HTTPPort > 65535:
		return fmt.Errorf("%w: http port %d out of range", ErrBadConfig, c.HTTPPort)
	case c.MulticastTimeout < 0:
		return fmt.Errorf("%w: negative multicast timeout", ErrBadConfig)
	case c.HeartbeatInterval < 0:
		return fmt.Errorf("%w: negative heartbeat interval", ErrBadConfig)
	case c.CacheTTL < 0 || c.CacheMaxBytes < 0 || c.TombstoneTTL < 0 || c.JanitorInterval < 0 || c.CheckInterval < 0 ||
		c.AnswerFanout < 0 || c.CacheMinReads < 0:
		return fmt.Errorf("%w: negative cache TTL, cache size, tombstone TTL, interval, answer fanout or cache min reads", ErrBadConfig)
	case c.FetchTimeout < 0 || c.ProbeTimeout < 0 || c.DigestTimeout < 0 || c.WriteBackTimeout < 0 || c.DumpIdleTimeout < 0:
		return fmt.Errorf("%w: negative fetch, probe, digest, write-back or dump idle timeout", ErrBadConfig)
	case c.OriginalInterval < 0 || c.MigrateInterval < 0:
		return fmt.Errorf("%w: negative original or migrate interval", ErrBadConfig)
	case c.MaxValueSize < 0:
		return fmt.Errorf("%w: negative max value size", ErrBadConfig)
	case c.FailureTimeout < 3*c.HeartbeatInterval:
		return fmt.Errorf("%w: failure timeout %s is less than three heartbeat intervals (%s)",
			ErrBadConfig, c.FailureTimeout, 3*c.HeartbeatInterval)
	case c.GossipFanout < 0 || c.GossipFanout > 64:
		return fmt.Errorf("%w: gossip fanout %d out of range 1-64", ErrBadConfig, c.GossipFanout)
	case c.NoMulticast && c.Seeds == nil:
		return fmt.Errorf("%w: no multicast and no seeds: the node would find no other node", ErrBadConfig)
	case c.Peers == nil:
		return fmt.Errorf("%w: no Peers to reach the other nodes", ErrBadConfig)
	}
	return nil
}
