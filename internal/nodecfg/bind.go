package nodecfg

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// BindHint is the example a bind error suggests. It filters on IPv4.
const BindHint = `{{ GetAllInterfaces | include "name" "eth0" | include "type" "IPv4" | attr "address" }}`

// Interface is a network interface as ResolveBindOn sees it: its name and
// its addresses, in the order the system lists them.
type Interface struct {
	Name  string
	Addrs []netip.Addr
}

// SystemInterfaces lists this machine's interfaces and their addresses.
func SystemInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing the network interfaces: %w", err)
	}
	list := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("listing the addresses of %s: %w", ifi.Name, err)
		}
		it := Interface{Name: ifi.Name}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				it.Addrs = append(it.Addrs, p.Addr().Unmap())
			}
		}
		list = append(list, it)
	}
	return list, nil
}

// ResolveBind is ResolveBindOn with this machine's interfaces, without
// the note.
func ResolveBind(text string, expand func(string) (string, error)) (netip.Addr, error) {
	addr, _, err := ResolveBindOn(text, expand, SystemInterfaces)
	return addr, err
}

// ResolveBindOn turns a bind setting, an IP address or a go-sockaddr
// template such as {{ GetPrivateIP }}, into the one IPv4 address the node
// serves and multicasts from. expand evaluates templates (template.Parse);
// interfaces lists the machine's interfaces (SystemInterfaces). The
// result must be exactly one IPv4 address (a template's output may be a
// prefix such as 192.0.2.7/24: its address is taken) that other nodes can
// reach: not 0.0.0.0 and not multicast.
//
// A template that gives an IPv6 address of an interface that also has an
// IPv4 address gives that IPv4 address instead (the first the system
// lists that is not link-local, else the first), and note says so, for
// the log. go-sockaddr's GetInterfaceIP and GetPrivateIP sort IPv4 first
// but drop the addresses RFC 6890 says are not forwardable (192.0.2.0/24
// and the other documentation ranges, 169.254.0.0/16...): on an interface
// with such an IPv4 address and a ULA (fd00::2), they give the ULA. An
// address given as it is, not by a template, is never replaced.
func ResolveBindOn(text string, expand func(string) (string, error), interfaces func() ([]Interface, error)) (addr netip.Addr, note string, err error) {
	out := text
	if _, err := netip.ParseAddr(text); err != nil {
		if out, err = expand(text); err != nil {
			return netip.Addr{}, "", fmt.Errorf("not an IP address nor a valid go-sockaddr template: %w", err)
		}
	}
	fields := strings.Fields(out)
	switch len(fields) {
	case 0:
		return netip.Addr{}, "", fmt.Errorf("resolved to no address; give an address or a template such as %s", BindHint)
	case 1:
	default:
		return netip.Addr{}, "", fmt.Errorf("resolved to %d addresses (%s); pick one, e.g. %s",
			len(fields), strings.Join(fields, " "), BindHint)
	}
	addr, err = netip.ParseAddr(fields[0])
	if err != nil {
		p, perr := netip.ParsePrefix(fields[0])
		if perr != nil {
			return netip.Addr{}, "", fmt.Errorf("resolved to %q, which is not an IP address", fields[0])
		}
		addr = p.Addr()
	}
	addr = addr.Unmap()
	switch {
	case !addr.Is4() && out != text:
		if addr, note, err = ipv4Beside(addr, interfaces); err != nil {
			return netip.Addr{}, "", err
		}
	case !addr.Is4():
		return netip.Addr{}, "", fmt.Errorf("%s is not an IPv4 address", addr)
	}
	switch {
	case addr.IsUnspecified():
		return netip.Addr{}, "", fmt.Errorf("%s is not an address other nodes can reach; give the node's own address", addr)
	case addr.IsMulticast():
		return netip.Addr{}, "", fmt.Errorf("%s is a multicast address; give the node's own address", addr)
	}
	return addr, note, nil
}

// ipv4Beside returns the IPv4 address of the interface that holds the
// IPv6 address v6, and a note saying it was chosen.
func ipv4Beside(v6 netip.Addr, interfaces func() ([]Interface, error)) (netip.Addr, string, error) {
	notV4 := fmt.Errorf("resolved to %s, which is not an IPv4 address; pick one, e.g. %s", v6, BindHint)
	list, err := interfaces()
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("%w (%v)", notV4, err)
	}
	for _, it := range list {
		if !slices.ContainsFunc(it.Addrs, func(a netip.Addr) bool { return a.WithZone("") == v6.WithZone("") }) {
			continue
		}
		var v4s []netip.Addr
		for _, a := range it.Addrs {
			if a = a.Unmap(); a.Is4() {
				v4s = append(v4s, a)
			}
		}
		if len(v4s) == 0 {
			return netip.Addr{}, "", fmt.Errorf("resolved to %s, an IPv6 address of %s, which has no IPv4 address; "+
				"the node needs one (its multicast is IPv4): give an IPv4 address or a template such as %s", v6, it.Name, BindHint)
		}
		chosen := v4s[0]
		if i := slices.IndexFunc(v4s, func(a netip.Addr) bool { return !a.IsLinkLocalUnicast() }); i >= 0 {
			chosen = v4s[i]
		}
		note := fmt.Sprintf("the bind template gave %s, an IPv6 address of %s; using its IPv4 address %s", v6, it.Name, chosen)
		if len(v4s) > 1 {
			others := make([]string, 0, len(v4s)-1)
			for _, a := range v4s {
				if a != chosen {
					others = append(others, a.String())
				}
			}
			note += " (it also has " + strings.Join(others, ", ") + "; give --bind one of them to use it)"
		}
		return chosen, note, nil
	}
	return netip.Addr{}, "", notV4
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
