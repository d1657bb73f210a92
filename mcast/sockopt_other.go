//go:build !linux

package mcast

import "syscall"

// groupSocketControl sets nothing beyond the defaults: outside Linux the
// standard library already sets SO_REUSEADDR (and, on the BSDs,
// SO_REUSEPORT, which there does not load-balance multicast) when a UDP
// socket is bound to a multicast address. Only Linux is tested.
func groupSocketControl(network, address string, c syscall.RawConn) error { return nil }
