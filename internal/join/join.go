// Package join resolves diststored's --join list into the unicast
// addresses of the nodes to contact: literal addresses, a host's A records
// (dns:NAME) and SRV records (srv:NAME). Targets are resolved at start and
// again every Interval, so that a replaced machine behind a name is found;
// the result is bounded (MaxPerName per target, MaxAddrs in all) whatever a
// DNS server answers. The resolver is an interface so that tests answer
// from a table.
package join

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds and defaults.
const (
	// MaxTargets is how many entries a --join list may have.
	MaxTargets = 64
	// MaxPerName is how many addresses one dns: or srv: name contributes;
	// more records are ignored (the first after sorting).
	MaxPerName = 16
	// MaxAddrs bounds the resolved addresses in all.
	MaxAddrs = 256
	// DefaultInterval is how often names are resolved again.
	DefaultInterval = 30 * time.Second
	// DefaultTimeout bounds one resolution of every target.
	DefaultTimeout = 5 * time.Second
	// maxNameLen is the longest DNS name accepted (RFC 1035: 253 in text).
	maxNameLen = 253
)

// ErrBadTarget is wrapped by the errors Parse returns.
var ErrBadTarget = errors.New("bad join target")

// Kind says how a Target is resolved.
type Kind int

// Kinds of targets.
const (
	Addr Kind = iota // a literal IPv4 address, or a host name's A records
	DNS              // dns:NAME, every A record of NAME
	SRV              // srv:NAME, SRV records of NAME: targets' A records and ports
)

// Target is one entry of a --join list.
type Target struct {
	Kind Kind
	Host string // IPv4 address or host name; for SRV the record name
	Port uint16 // for Addr and DNS; 0 for SRV (the records say)
}

// String returns the target as it is written in a --join list.
func (t Target) String() string {
	switch t.Kind {
	case DNS:
		return "dns:" + net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
	case SRV:
		return "srv:" + t.Host
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// Parse reads a --join list: entries separated by commas (and spaces),
// each HOST or HOST:PORT (an IPv4 address or a name whose A records are
// used), dns:NAME or dns:NAME:PORT (every A record of NAME), or srv:NAME
// (SRV records: each record's target and port). PORT is the peer's unicast
// port (its --unicast-port); defaultPort is used where none is written.
func Parse(list string, defaultPort uint16) ([]Target, error) {
	var out []Target
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if len(out) == MaxTargets {
			return nil, fmt.Errorf("%w: more than %d entries", ErrBadTarget, MaxTargets)
		}
		t, err := parseOne(f, defaultPort)
		if err != nil {
			return nil, fmt.Errorf("%w: %.80q: %w", ErrBadTarget, f, err)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func parseOne(s string, defaultPort uint16) (Target, error) {
	switch {
	case strings.HasPrefix(s, "srv:"):
		name := strings.TrimSuffix(s[len("srv:"):], ".")
		if err := checkName(name); err != nil {
			return Target{}, err
		}
		return Target{Kind: SRV, Host: name}, nil
	case strings.HasPrefix(s, "dns:"):
		host, port, err := hostPort(s[len("dns:"):], defaultPort)
		if err != nil {
			return Target{}, err
		}
		if err := checkName(host); err != nil {
			return Target{}, err
		}
		return Target{Kind: DNS, Host: host, Port: port}, nil
	}
	host, port, err := hostPort(s, defaultPort)
	if err != nil {
		return Target{}, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() || a.IsUnspecified() || a.IsMulticast() {
			return Target{}, errors.New("not a unicast IPv4 address")
		}
		return Target{Kind: Addr, Host: a.String(), Port: port}, nil
	}
	if err := checkName(host); err != nil {
		return Target{}, err
	}
	return Target{Kind: Addr, Host: host, Port: port}, nil
}

// hostPort splits HOST[:PORT].
func hostPort(s string, defaultPort uint16) (string, uint16, error) {
	if !strings.Contains(s, ":") {
		return strings.TrimSuffix(s, "."), defaultPort, nil
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, errors.New("not HOST or HOST:PORT")
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("port %.10q is not 1-65535", p)
	}
	return strings.TrimSuffix(host, "."), uint16(port), nil
}

// checkName accepts a DNS name: labels of letters, digits, '-' and '_'
// (SRV names start with _service._proto), 1-63 bytes each.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("name of %d bytes, want 1-%d", len(name), maxNameLen)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("empty or too long label in name")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("name contains %q", r)
			}
		}
	}
	return nil
}

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Resolve returns the addresses of targets, sorted, without duplicates and
// at most MaxAddrs. A target that fails to resolve is skipped; its error
// is joined into err, so that one bad name does not hide the others.
func Resolve(ctx context.Context, r Resolver, targets []Target) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	var errs []error
	add := func(as []netip.Addr, port uint16) {
		n := 0
		slices.SortFunc(as, netip.Addr.Compare)
		for _, a := range as {
			a = a.Unmap()
			if !a.Is4() || a.IsUnspecified() || a.IsMulticast() || n == MaxPerName {
				continue
			}
			out = append(out, netip.AddrPortFrom(a, port))
			n++
		}
	}
	for _, t := range targets {
		if a, err := netip.ParseAddr(t.Host); err == nil && t.Kind == Addr {
			add([]netip.Addr{a}, t.Port)
			continue
		}
		switch t.Kind {
		case Addr, DNS:
			as, err := r.LookupNetIP(ctx, "ip4", t.Host)
			if err != nil {
				errs = append(errs, fmt.Errorf("resolve %s: %w", t, err))
				continue
			}
			add(as, t.Port)
		case SRV:
			_, recs, err := r.LookupSRV(ctx, "", "", t.Host)
			if err != nil {
				errs = append(errs, fmt.Errorf("resolve %s: %w", t, err))
				continue
			}
			if len(recs) > MaxPerName {
				recs = recs[:MaxPerName] // in the resolver's order: priority, then weight
			}
			for _, rec := range recs {
				if rec.Port == 0 {
					continue
				}
				host := strings.TrimSuffix(rec.Target, ".")
				if a, err := netip.ParseAddr(host); err == nil {
					add([]netip.Addr{a}, rec.Port)
					continue
				}
				if checkName(host) != nil {
					continue
				}
				as, err := r.LookupNetIP(ctx, "ip4", host)
				if err != nil {
					errs = append(errs, fmt.Errorf("resolve %s: target %s: %w", t, host, err))
					continue
				}
				add(as, rec.Port)
			}
		}
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	out = slices.Compact(out)
	if len(out) > MaxAddrs {
		out = out[:MaxAddrs]
	}
	return out, errors.Join(errs...)
}

// Config configures a Seeds.
type Config struct {
	Targets  []Target
	Resolver Resolver      // nil means net.DefaultResolver
	Interval time.Duration // 0 means DefaultInterval
	Timeout  time.Duration // bounds one resolution; 0 means DefaultTimeout
	Logger   *slog.Logger  // nil means slog.Default()
}

// Seeds keeps the resolved addresses of a --join list up to date.
type Seeds struct {
	cfg Config

	mu     sync.Mutex                  // guards addrs and byName
	addrs  []netip.AddrPort            // the union of byName, sorted, at most MaxAddrs
	byName map[Target][]netip.AddrPort // each target's last successful resolution

	// ctx ends at Close: it bounds the resolution under way.
	ctx     context.Context
	cancel  context.CancelFunc
	running atomic.Bool // Start was called
	done    chan struct{}
	once    sync.Once
}

// New returns Seeds over cfg; Start resolves and keeps resolving.
func New(cfg Config) *Seeds {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Seeds{cfg: cfg, byName: map[Target][]netip.AddrPort{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Addrs returns the addresses last resolved (a copy).
func (s *Seeds) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.addrs)
}

// Refresh resolves every target once. A target that fails this time keeps
// the addresses it resolved to last: a DNS server that is down for a
// moment, or one name of several that stops resolving, does not empty
// the list. It returns the failures, joined.
func (s *Seeds) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var errs []error
	fresh := map[Target][]netip.AddrPort{}
	for _, t := range s.cfg.Targets {
		got, err := Resolve(ctx, s.cfg.Resolver, []Target{t})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[t] = got
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []netip.AddrPort
	for _, t := range s.cfg.Targets {
		if got, ok := fresh[t]; ok {
			s.byName[t] = got
		}
		all = append(all, s.byName[t]...)
	}
	slices.SortFunc(all, netip.AddrPort.Compare)
	all = slices.Compact(all)
	if len(all) > MaxAddrs {
		all = all[:MaxAddrs]
	}
	if !slices.Equal(all, s.addrs) {
		s.cfg.Logger.Info("join addresses resolved", "addrs", fmt.Sprint(all))
	}
	s.addrs = all
	return errors.Join(errs...)
}

// Start resolves at once, then every Interval until Close, in a goroutine
// that Close stops and waits for.
func (s *Seeds) Start() {
	if !s.running.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(s.done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
			if err := s.Refresh(s.ctx); err != nil && s.ctx.Err() == nil {
				s.cfg.Logger.Warn("join: resolution failed", "err", err)
			}
			t.Reset(s.cfg.Interval)
		}
	}()
}

// Close stops the resolution loop started by Start and waits for it. It
// is safe to call twice, and without Start.
func (s *Seeds) Close() {
	s.once.Do(s.cancel)
	if s.running.Load() {
		<-s.done
	}
}
