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
//
// Flags are the bits of Flags (FlagSynced 0x1, FlagLeaving 0x2, FlagDeleted 0x4,
// FlagMigrated 0x8);
// unknown bits are kept, not rejected. A heartbeat names its masters in
// order; "-" stands for an absent one, and "- <m2>" is malformed.
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
