// Package mcast owns diststore's UDP multicast layer: the wire codec of the
// cluster's datagrams (Message, Encode, Decode) and the Transport that moves
// them, with one real implementation over UDP (ListenUDP) and one in-memory
// fake network for tests (MemNetwork). It knows nothing about how keys are
// stored or how masters are chosen; it only turns datagrams into Messages and
// back, and delivers them.
//
// # Wire format
//
// A datagram is one line of ASCII tokens separated by single spaces, at most
// MaxDatagram bytes; one trailing "\n" or "\r\n" is tolerated. Longer
// datagrams are dropped before decoding. Addresses are dotted-quad IPv4,
// ports are 1–65535, numbers are unsigned decimal, flags are hexadecimal, and
// a key is one token of 1–MaxKeyLen bytes of UTF-8 without whitespace or
// control characters. Nodes send a key in its wire form, escaped as in a
// URL path (store.WireKey: "café" is "caf%C3%A9"), which is the text the
// original keeps a key sent in a path under; they read any escaping of it
// (store.KeyFromWire), and answer a whohas with the asker's own token. The first four kinds are pydiststore's, byte for byte;
// diststore's additions carry a protocol version token "1" right after the
// kind token, and a datagram with any other version is ErrUnknownKind, so
// nodes ignore kinds and versions from the future.
//
// ONLY APPEND TO THIS LIST. Never renumber a Kind or change the fields of an
// existing kind and version; add a new kind or a new version instead.
//
//	Kind        wire form                                          sent
//	1 WhoHas    whohas <key> <ip> <port>                           to the group: who holds key? answer to ip:port
//	2 GotKey    gotkey <key> <ip>                                  unicast answer to whohas: ip holds key
//	3 KeyCount  keycount <ip> <n>                                  to the group n is the asker's reply port;
//	                                                               as a unicast answer n is the key count
//	4 MasterLost masterlost <who> <master>                         to the group: who failed to reach master
//	5 Heartbeat hb 1 <ip> <keys> <epoch> <m1|-> <m2|-> <flags>     to the group: liveness, key count, masters seen
//	6 NoKey     nokey 1 <key> <ip> <epoch>                         unicast answer from a master to a member: it lacks key
//	7 Bye       bye 1 <ip>                                         to the group: ip leaves cleanly
//	8 Invalidate inval 1 <key> <ip> <clock>-<node> <flags>         to the group: key now has this version (hex);
//	                                                               flag FlagDeleted: it was deleted
//	9 Members   members 1 <ip> <ip:port> [<ip:port>...]            unicast: 1–MaxListed nodes ip knows, each
//	                                                               by its unicast address and port
//
// Heartbeat, Bye, Invalidate and MasterLost go to the group; a node that
// joins by unicast (diststored's --join, or --multicast=false) also sends
// them by unicast to the members that do not hear the group, in the same
// wire form. Members is unicast only (see cluster's gossip.go).
//
// Flags are the bits of Flags (FlagSynced 0x1, FlagLeaving 0x2, FlagDeleted 0x4,
// FlagMigrated 0x8, FlagLocalKeys 0x10, FlagTellsLocal 0x20);
// unknown bits are kept, not rejected. A heartbeat names its masters in
// order; "-" stands for an absent one, and "- <m2>" is malformed.
//
// # Compatibility between releases (rolling upgrades)
//
// Operators upgrade a cluster one node at a time, so nodes of two
// consecutive releases run together for a while. What each release
// promises the one before and the one after:
//
//   - Datagrams. The kinds and versions of the table above never change.
//     diststore's own kinds carry the version token "1" right after the
//     kind; a datagram of an unknown kind, or of a known kind with another
//     version, fails Decode with ErrUnknownKind and the node drops it
//     (logged at debug level) and carries on. A later release that needs
//     another field sends a new kind or a new version beside the old one,
//     never instead of it, for as long as it promises to mix with a
//     release that knows only the old one. Unknown flag bits are kept.
//     With a cluster key, the seal (package clusterkey: magic, version
//     byte 0x01, then the sealed message) is the same in both releases.
//     A node asks the masters alone for a key it lacks only while every
//     member sets FlagTellsLocal; a member of an older release, which
//     does not, brings every miss back to a whohas to the group.
//   - Node-to-node HTTP. The replication stream (GET /replicate upgraded
//     to "diststore-repl/1", package repl) is an addition: a node that
//     answers the upgrade request with anything but 101 (an older
//     diststore answers 404, the original answers as it answers any path)
//     is sent each forwarded write as a request of its own,
//     POST /local/<key> with its version, as before the stream existed;
//     a 401 or 403 is a refusal of the credentials, not a fallback. The
//     sender remembers for a minute that a node serves no stream, so a
//     node replaced by a newer one on the same address gets streams again
//     within a minute.
//   - Data. The store's format (package store, bbolt) is the same in
//     both releases: a node of the new release opens the data directory
//     of the release before it in place, and keeps every key.
//
// integration's TestUpgrade_RollingFromPreviousRelease shows it: four
// nodes of the release before the replication stream (commit 58b7bca)
// are replaced one by one under load; the mixed cluster elects and syncs
// its masters, each release lists the other's nodes as members, and no
// acknowledged write is lost.
//
// # Transports and loopback multicast
//
// ListenUDP opens two sockets per node: a group socket bound to the group
// address and port with SO_REUSEADDR (never SO_REUSEPORT, which would
// load-balance datagrams between nodes sharing a host) and joined to the group
// on one interface, and a unicast socket bound to the node's own address and
// UDPConfig.UnicastPort (diststored's --unicast-port, 4984 by default: fixed,
// so that a firewall can allow answers). Multicast is sent from the unicast socket with
// IP_MULTICAST_IF set to the interface and multicast loopback on, so several
// nodes on one host, each on its own 127.0.2.N alias, all hear each other,
// while unicast answers reach only the socket that asked.
//
// A node receives its own multicast datagrams (From is its LocalAddr); the
// transport does not filter them, and receivers must tolerate them. On
// Linux loopback each multicast datagram has been observed to arrive exactly
// once per group socket, both on the host's plain lo (no MULTICAST flag, no
// multicast route) and in a network namespace where lo has them; receivers
// should still treat duplicates as possible, as they are on real networks.
package mcast
