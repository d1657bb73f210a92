package mcast

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// groupSocketControl prepares the group socket before it is bound:
// SO_REUSEADDR so that every node on this host can bind the same group
// address and port and each gets a copy of every datagram (SO_REUSEPORT
// would instead hand each datagram to one of them), and IP_MULTICAST_ALL=0
// so that it receives only the groups it joined itself, not those joined by
// other sockets of this host on the same port.
func groupSocketControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			serr = fmt.Errorf("set SO_REUSEADDR: %w", serr)
			return
		}
		if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
			serr = fmt.Errorf("set IP_MULTICAST_ALL: %w", serr)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
