package nodecfg

import (
	"errors"
	"github.com/hashicorp/go-sockaddr/template"
	"net/netip"
	"testing"

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
			name:    "template to IPv6 (real loopback)",
			text:    `{{ GetAllInterfaces | include "name" "^lo$" | include "type" "IPv6" | attr "address" }}`,
			wantErr: "resolved to ::1, which is not an IPv4 address; pick one",
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
			got, err := ResolveBind(tt.text, expand)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, netip.MustParseAddr(tt.want), got)
		})
	}
}
