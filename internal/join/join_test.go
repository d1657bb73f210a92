package join

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want []Target
		err  bool
	}{
		{in: "", want: nil},
		{in: "10.0.0.1", want: []Target{{Kind: Addr, Host: "10.0.0.1", Port: 4984}}},
		{in: "10.0.0.1:5000, 10.0.0.2", want: []Target{{Addr, "10.0.0.1", 5000}, {Addr, "10.0.0.2", 4984}}},
		{in: "node-a.lan,node-a.lan", want: []Target{{Addr, "node-a.lan", 4984}}},
		{in: "dns:store.internal", want: []Target{{DNS, "store.internal", 4984}}},
		{in: "dns:store.internal.:4000", want: []Target{{DNS, "store.internal", 4000}}},
		{in: "srv:_diststore._udp.example.org", want: []Target{{SRV, "_diststore._udp.example.org", 0}}},
		{in: "10.0.0.1:0", err: true},
		{in: "10.0.0.1:70000", err: true},
		{in: "239.255.41.83", err: true},
		{in: "0.0.0.0", err: true},
		{in: "::1", err: true},
		{in: "[::1]:4984", err: true},
		{in: "dns:", err: true},
		{in: "srv:", err: true},
		{in: "dns:bad name!", err: true},
		{in: "srv:a..b", err: true},
		{in: "host:port:extra", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, 4984)
			if tt.err {
				require.ErrorIs(t, err, ErrBadTarget)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParse_TooMany(t *testing.T) {
	list := ""
	for i := range MaxTargets + 1 {
		list += fmt.Sprintf("10.0.%d.%d,", i/250, i%250+1)
	}
	_, err := Parse(list, 4984)
	require.ErrorIs(t, err, ErrBadTarget)
}

// fakeResolver answers from tables that a test may change.
type fakeResolver struct {
	mu    sync.Mutex
	a     map[string][]netip.Addr
	srv   map[string][]*net.SRV
	calls int
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if network != "ip4" {
		return nil, fmt.Errorf("network %s", network)
	}
	as, ok := f.a[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return append([]netip.Addr(nil), as...), nil
}

func (f *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if service != "" || proto != "" {
		return "", nil, errors.New("want the record name as it is")
	}
	recs, ok := f.srv[name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return name, recs, nil
}

func (f *fakeResolver) setA(host string, as ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []netip.Addr
	for _, a := range as {
		list = append(list, netip.MustParseAddr(a))
	}
	f.a[host] = list
}

func aps(ss ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		out = append(out, netip.MustParseAddrPort(s))
	}
	return out
}

func TestResolve(t *testing.T) {
	r := &fakeResolver{a: map[string][]netip.Addr{}, srv: map[string][]*net.SRV{}}
	r.setA("store.lan", "10.0.0.3", "10.0.0.2", "224.0.0.1", "0.0.0.0")
	r.setA("a.lan", "10.0.1.1")
	r.setA("b.lan", "10.0.1.2")
	r.srv["_diststore._udp.lan"] = []*net.SRV{
		{Target: "a.lan.", Port: 5001}, {Target: "b.lan.", Port: 5002},
		{Target: "gone.lan.", Port: 5003}, {Target: "a.lan.", Port: 0},
	}
	targets, err := Parse("10.0.0.9:7000,dns:store.lan,srv:_diststore._udp.lan,dns:missing.lan", 4984)
	require.NoError(t, err)
	got, err := Resolve(context.Background(), r, targets)
	// Names that fail are reported, the others still resolve.
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.lan")
	assert.Contains(t, err.Error(), "gone.lan")
	assert.Equal(t, aps("10.0.0.2:4984", "10.0.0.3:4984", "10.0.0.9:7000", "10.0.1.1:5001", "10.0.1.2:5002"), got)
}

func TestResolve_Bounded(t *testing.T) {
	r := &fakeResolver{a: map[string][]netip.Addr{}, srv: map[string][]*net.SRV{}}
	var many []string
	for i := range 1000 {
		many = append(many, fmt.Sprintf("10.1.%d.%d", i/200, i%200+1))
	}
	r.setA("flood.lan", many...)
	targets, err := Parse("dns:flood.lan", 4984)
	require.NoError(t, err)
	got, err := Resolve(context.Background(), r, targets)
	require.NoError(t, err)
	assert.Len(t, got, MaxPerName, "one name brings at most MaxPerName addresses")
}

func TestSeeds_ReResolves(t *testing.T) {
	r := &fakeResolver{a: map[string][]netip.Addr{}, srv: map[string][]*net.SRV{}}
	r.setA("store.lan", "10.0.0.1")
	targets, err := Parse("dns:store.lan", 4984)
	require.NoError(t, err)
	s := New(Config{Targets: targets, Resolver: r, Interval: 10 * time.Millisecond})
	s.Start()
	defer s.Close()
	waitFor(t, func() bool { return len(s.Addrs()) == 1 && s.Addrs()[0] == netip.MustParseAddrPort("10.0.0.1:4984") })

	// The machine behind the name is replaced: the next resolution finds it.
	r.setA("store.lan", "10.0.0.7")
	waitFor(t, func() bool { return len(s.Addrs()) == 1 && s.Addrs()[0] == netip.MustParseAddrPort("10.0.0.7:4984") })

	// The name stops resolving: what was known stays.
	r.mu.Lock()
	delete(r.a, "store.lan")
	calls := r.calls
	r.mu.Unlock()
	waitFor(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls > calls+2 })
	assert.Equal(t, aps("10.0.0.7:4984"), s.Addrs())

	s.Close()
	s.Close() // twice is fine
}

// TestSeeds_FailingNameKeepsItsAddresses: of two names, the one that
// stops resolving keeps its last addresses while the other is followed.
func TestSeeds_FailingNameKeepsItsAddresses(t *testing.T) {
	r := &fakeResolver{a: map[string][]netip.Addr{}, srv: map[string][]*net.SRV{}}
	r.setA("a.lan", "10.0.0.1")
	r.setA("b.lan", "10.0.0.2")
	targets, err := Parse("dns:a.lan,dns:b.lan", 4984)
	require.NoError(t, err)
	s := New(Config{Targets: targets, Resolver: r})
	defer s.Close()
	require.NoError(t, s.Refresh(context.Background()))
	assert.Equal(t, aps("10.0.0.1:4984", "10.0.0.2:4984"), s.Addrs())

	r.mu.Lock()
	delete(r.a, "a.lan")
	r.mu.Unlock()
	r.setA("b.lan", "10.0.0.3")
	err = s.Refresh(context.Background())
	require.Error(t, err, "a.lan no longer resolves")
	assert.Equal(t, aps("10.0.0.1:4984", "10.0.0.3:4984"), s.Addrs(), "a.lan's last address stays; b.lan's new one replaces its old")
}

func TestSeeds_CloseWithoutStart(t *testing.T) {
	s := New(Config{})
	s.Close()
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
