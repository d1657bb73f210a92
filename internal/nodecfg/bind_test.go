package nodecfg

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/hashicorp/go-sockaddr/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveBind(t *testing.T) {
	// fixed stands for a template that printed out, whatever the machine.
	fixed := func(out string) func(string) (string, error) {
		return func(string) (string, error) { return out, nil }
	}
	tests := []struct {
		name    string
		text    string
		expand  func(string) (string, error)
		want    string
		wantErr string
	}{
		{name: "literal IPv4", text: "127.0.2.1", want: "127.0.2.1"},
		{name: "literal IPv4-mapped", text: "::ffff:127.0.2.1", want: "127.0.2.1"},
		{name: "literal IPv6", text: "::1", wantErr: "::1 is not an IPv4 address"},
		{name: "unspecified", text: "0.0.0.0", wantErr: "0.0.0.0 is not an address other nodes can reach"},
		{name: "multicast", text: "239.255.41.83", wantErr: "is a multicast address"},
		{
			name: "template to one address (real loopback)",
			text: `{{ GetAllInterfaces | include "name" "^lo$" | include "type" "IPv4" | attr "address" }}`,
			want: "127.0.0.1",
		},
		{
			name:    "template to none (real)",
			text:    `{{ GetAllInterfaces | include "name" "^no-such-interface$" | attr "address" }}`,
			wantErr: "resolved to no address",
		},
		{
			name: "template to IPv6 on no interface",
			text: "{{ x }}", expand: fixed("fd00::9"),
			wantErr: "resolved to fd00::9, which is not an IPv4 address; pick one",
		},
		{name: "template to a prefix", text: "{{ x }}", expand: fixed("127.0.2.7/24"), want: "127.0.2.7"},
		{
			name: "template to three", text: "{{ x }}", expand: fixed("127.0.2.1 127.0.2.2\n127.0.2.3"),
			wantErr: `resolved to 3 addresses (127.0.2.1 127.0.2.2 127.0.2.3); pick one, e.g. {{ GetAllInterfaces | include "name" "eth0"`,
		},
		{name: "template to junk", text: "{{ x }}", expand: fixed("eth0"), wantErr: `resolved to "eth0", which is not an IP address`},
		{name: "bad template", text: "{{ NoSuchFunction }}", wantErr: "not an IP address nor a valid go-sockaddr template"},
		{name: "empty", text: "", wantErr: "resolved to no address"},
		{name: "expand fails", text: "{{ x }}", expand: func(string) (string, error) { return "", errors.New("boom") }, wantErr: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expand := tt.expand
			if expand == nil {
				expand = template.Parse
			}
			got, note, err := ResolveBindOn(tt.text, expand, noInterfaces)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, netip.MustParseAddr(tt.want), got)
			assert.Empty(t, note)
		})
	}
}

// noInterfaces is a machine without interfaces.
func noInterfaces() ([]Interface, error) { return nil, nil }

// TestResolveBind_DualStack: a template that gives an IPv6 address of an
// interface with an IPv4 address gives that IPv4 address, and says so.
func TestResolveBind_DualStack(t *testing.T) {
	addrs := func(list ...string) []netip.Addr {
		var as []netip.Addr
		for _, a := range list {
			as = append(as, netip.MustParseAddr(a))
		}
		return as
	}
	lo := Interface{Name: "lo", Addrs: addrs("127.0.0.1", "::1")}
	tests := []struct {
		name     string
		text     string // what --bind says
		out      string // what the template gives
		ifs      []Interface
		want     string
		wantNote string
		wantErr  string
	}{
		{
			name: "IPv4 only", out: "192.0.2.2",
			ifs:  []Interface{lo, {Name: "eth0", Addrs: addrs("192.0.2.2")}},
			want: "192.0.2.2",
		},
		{
			name: "IPv6 first, then IPv4", out: "fd00::2",
			ifs:      []Interface{lo, {Name: "eth0", Addrs: addrs("fd00::2", "fe80::2", "192.0.2.2")}},
			want:     "192.0.2.2",
			wantNote: "the bind template gave fd00::2, an IPv6 address of eth0; using its IPv4 address 192.0.2.2",
		},
		{
			name: "IPv4 first, then IPv6", out: "fd00::2/64",
			ifs:      []Interface{{Name: "eth0", Addrs: addrs("192.0.2.2", "fd00::2")}},
			want:     "192.0.2.2",
			wantNote: "using its IPv4 address 192.0.2.2",
		},
		{
			name: "IPv6 only", out: "fd00::2",
			ifs:     []Interface{lo, {Name: "eth0", Addrs: addrs("fd00::2", "fe80::2")}},
			wantErr: "resolved to fd00::2, an IPv6 address of eth0, which has no IPv4 address; the node needs one",
		},
		{
			name: "several IPv4", out: "fd00::2",
			ifs:      []Interface{{Name: "eth0", Addrs: addrs("fd00::2", "169.254.7.7", "192.0.2.2", "192.0.2.3")}},
			want:     "192.0.2.2",
			wantNote: "using its IPv4 address 192.0.2.2 (it also has 169.254.7.7, 192.0.2.3; give --bind one of them to use it)",
		},
		{
			name: "only a link-local IPv4", out: "fd00::2",
			ifs:  []Interface{{Name: "eth0", Addrs: addrs("fd00::2", "169.254.7.7")}},
			want: "169.254.7.7", wantNote: "using its IPv4 address 169.254.7.7",
		},
		{
			name: "the IPv4 address of the right interface", out: "fd00::3",
			ifs: []Interface{
				{Name: "eth0", Addrs: addrs("fd00::2", "192.0.2.2")},
				{Name: "eth1", Addrs: addrs("198.51.100.3", "fd00::3")},
			},
			want: "198.51.100.3", wantNote: "an IPv6 address of eth1; using its IPv4 address 198.51.100.3",
		},
		{
			name: "a zone in the template's output", out: "fe80::2%eth0",
			ifs:  []Interface{{Name: "eth0", Addrs: addrs("fe80::2", "192.0.2.2")}},
			want: "192.0.2.2", wantNote: "using its IPv4 address 192.0.2.2",
		},
		{
			name: "IPv6 of no interface", out: "fd00::9",
			ifs:     []Interface{{Name: "eth0", Addrs: addrs("fd00::2", "192.0.2.2")}},
			wantErr: "resolved to fd00::9, which is not an IPv4 address; pick one",
		},
		{
			name: "an IPv6 address given as it is is not replaced", text: "fd00::2",
			ifs:     []Interface{{Name: "eth0", Addrs: addrs("fd00::2", "192.0.2.2")}},
			wantErr: "fd00::2 is not an IPv4 address",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if text == "" {
				text = `{{ GetInterfaceIP "eth0" }}`
			}
			expand := func(string) (string, error) { return tt.out, nil }
			ifs := func() ([]Interface, error) { return tt.ifs, nil }
			got, note, err := ResolveBindOn(text, expand, ifs)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, netip.MustParseAddr(tt.want), got)
			if tt.wantNote == "" {
				assert.Empty(t, note)
			} else {
				assert.Contains(t, note, tt.wantNote)
			}
		})
	}
	t.Run("interfaces cannot be listed", func(t *testing.T) {
		_, _, err := ResolveBindOn("{{ x }}", func(string) (string, error) { return "fd00::2", nil },
			func() ([]Interface, error) { return nil, errors.New("no netlink") })
		require.ErrorContains(t, err, "resolved to fd00::2, which is not an IPv4 address")
		require.ErrorContains(t, err, "no netlink")
	})
}

// TestSystemInterfaces_HasLoopback: the machine's list holds lo and its
// 127.0.0.1, as net.Interfaces gives them.
func TestSystemInterfaces_HasLoopback(t *testing.T) {
	list, err := SystemInterfaces()
	require.NoError(t, err)
	var found bool
	for _, it := range list {
		found = found || slices.Contains(it.Addrs, netip.MustParseAddr("127.0.0.1"))
	}
	assert.True(t, found, "127.0.0.1 on no interface of %v", list)
}
