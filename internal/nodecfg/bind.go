package nodecfg

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// BindHint is the example a bind error suggests. It filters on IPv4:
// {{ GetInterfaceIP "eth0" }} and {{ GetPrivateIP }} return an IPv6
// address on a host whose interface also has one (a ULA such as fd00::2).
const BindHint = `{{ GetAllInterfaces | include "name" "eth0" | include "type" "IPv4" | attr "address" }}`

// ResolveBind turns a bind setting, an IP address or a go-sockaddr
// template such as {{ GetPrivateIP }}, into the one IPv4 address the node
// serves and multicasts from. expand evaluates templates (template.Parse).
// The result must be exactly one IPv4 address (a template's output may be
// a prefix such as 192.0.2.7/24: its address is taken) that other nodes can
// reach: not 0.0.0.0 and not multicast.
func ResolveBind(text string, expand func(string) (string, error)) (netip.Addr, error) {
	out := text
	if _, err := netip.ParseAddr(text); err != nil {
		if out, err = expand(text); err != nil {
			return netip.Addr{}, fmt.Errorf("not an IP address nor a valid go-sockaddr template: %w", err)
		}
	}
	fields := strings.Fields(out)
	switch len(fields) {
	case 0:
		return netip.Addr{}, fmt.Errorf("resolved to no address; give an address or a template such as %s", BindHint)
	case 1:
	default:
		return netip.Addr{}, fmt.Errorf("resolved to %d addresses (%s); pick one, e.g. %s",
			len(fields), strings.Join(fields, " "), BindHint)
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
		return netip.Addr{}, fmt.Errorf("resolved to %s, which is not an IPv4 address; pick one, e.g. %s", addr, BindHint)
	case !addr.Is4():
		return netip.Addr{}, fmt.Errorf("%s is not an IPv4 address", addr)
	case addr.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%s is not an address other nodes can reach; give the node's own address", addr)
	case addr.IsMulticast():
		return netip.Addr{}, fmt.Errorf("%s is a multicast address; give the node's own address", addr)
	}
	return addr, nil
}

// MaxFileSize bounds how much of a config file is read.
const MaxFileSize = 1 << 20

// ReadFile returns the contents of the config file at path, at most
// MaxFileSize bytes. A missing file's error wraps fs.ErrNotExist.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// ParsePort parses a TCP or UDP port, 1-65535.
func ParsePort(text string) (int, error) {
	p, err := strconv.Atoi(text)
	if err != nil || p < 1 || p > 65535 {
		return 0, errors.New("not a port number (1-65535)")
	}
	return p, nil
}

// ParsePortOrZero is ParsePort that also takes 0, for a port the kernel
// may choose.
func ParsePortOrZero(text string) (int, error) {
	if p, err := strconv.Atoi(text); err == nil && p == 0 {
		return 0, nil
	}
	p, err := ParsePort(text)
	if err != nil {
		return 0, errors.New("not a port number (1-65535, or 0 for one the kernel picks)")
	}
	return p, nil
}
