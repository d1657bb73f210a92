// Package forge speaks diststore's protocols the way an attacker on the LAN
// would, so that the cluster's bounds can be tried from outside: the
// adversary suite in integration/ drives it inside its private network
// namespace, and an operator can drive it against a test cluster.
//
// It has four parts:
//
//   - Datagram builders (datagrams.go): every kind of the wire table in
//     package mcast, with any field the forger wants — a heartbeat naming
//     any pair at any epoch, a bye or an invalidation in another node's
//     name, a whohas or keycount naming a third party's address and port,
//     answers to queries it never saw. A datagram mcast.Encode accepts is
//     encoded by it, byte for byte what a node sends; anything Encode
//     refuses (port 0, a key with a space, more than two masters) is
//     written as raw text instead.
//   - Conn (conn.go): a UDP socket bound to any address and port the
//     caller names — binding a victim's address with another port is how
//     a spoofed source looks on loopback — that sends to the group (TTL 1,
//     multicast loopback on) or to one node, and collects what arrives.
//   - Sniffer (sniff.go): a listener on the group that learns each node's
//     unicast port from the source of its heartbeats (or, on a cluster
//     whose datagrams are sealed with a key the forger lacks, from the
//     source of whatever it sends), and can answer what it hears
//     (AnswerWhoHas: a gotkey for every whohas).
//   - HTTP (http.go): FakeNode, a server that answers as a node would with
//     whatever value and version the forger chose, and LocalWrite, a
//     POST or DELETE /local/<key> with a forged X-Diststore-Version.
//
// The package binds nothing by itself: the caller names every address.
// Use it only on loopback or a network that is yours to test.
package forge
