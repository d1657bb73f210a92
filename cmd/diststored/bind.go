package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// bindHint is the example --bind errors suggest. It filters on IPv4:
// {{ GetInterfaceIP "eth0" }} and {{ GetPrivateIP }} return an IPv6
// address on a host whose interface also has one (a ULA such as fd00::2).
const bindHint = `{{ GetAllInterfaces | include "name" "eth0" | include "type" "IPv4" | attr "address" }}`

// resolveBind turns the text of --bind, an IP address or a go-sockaddr
// template such as {{ GetPrivateIP }}, into the one IPv4 address the node
// serves and multicasts from. expand evaluates templates (template.Parse).
// The result must be exactly one IPv4 address (a template's output may be
// a prefix such as 192.0.2.7/24: its address is taken) that other nodes can
// reach: not 0.0.0.0 and not multicast.
func resolveBind(text string, expand func(string) (string, error)) (netip.Addr, error) {
	out := text
	if _, err := netip.ParseAddr(text); err != nil {
		if out, err = expand(text); err != nil {
			return netip.Addr{}, fmt.Errorf("not an IP address nor a valid go-sockaddr template: %w", err)
		}
	}
	fields := strings.Fields(out)
	switch len(fields) {
	case 0:
		return netip.Addr{}, fmt.Errorf("resolved to no address; give an address or a template such as %s", bindHint)
	case 1:
	default:
		return netip.Addr{}, fmt.Errorf("resolved to %d addresses (%s); pick one, e.g. %s",
			len(fields), strings.Join(fields, " "), bindHint)
	}
	addr, err := netip.ParseAddr(fields[0])
	if err != nil {
		p, perr := netip.ParsePrefix(fields[0])
		if perr != nil {
			return netip.Addr{}, fmt.Errorf("resolved to %q, which is not an IP address", fields[0])
		}
		addr = p.Addr()
	}
	addr = addr.Unmap()
	switch {
	case !addr.Is4() && out != text:
		return netip.Addr{}, fmt.Errorf("resolved to %s, which is not an IPv4 address; pick one, e.g. %s", addr, bindHint)
	case !addr.Is4():
		return netip.Addr{}, fmt.Errorf("%s is not an IPv4 address", addr)
	case addr.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%s is not an address other nodes can reach; give the node's own address", addr)
	case addr.IsMulticast():
		return netip.Addr{}, fmt.Errorf("%s is a multicast address; give the node's own address", addr)
	}
	return addr, nil
}
