package cluster

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// Membership by unicast, for networks that carry no multicast.
//
// A node with seeds (diststored's --join) or without the group
// (--multicast=false) sends, each heartbeat interval, its own heartbeat
// by unicast to:
//
//   - the masters of its pair: they hold every key and run elections, so
//     they hear from every member and know every key count;
//   - every member, if it is a master itself: each member hears the
//     masters, the pair and their synced flags directly;
//   - its seeds that are not members yet;
//   - the nodes learnt by gossip, not members yet, that a member's
//     heartbeat names as masters, and one more learnt by gossip;
//   - GossipFanout members drawn at random.
//
// To the first member drawn, and to each seed not yet a member, it also
// sends a members list (mcast.Members): the unicast addresses of the
// masters and of up to MaxListed members it hears from itself. Members that hear the group are left out of the
// unicast sends when this node multicasts too. Bye, invalidations,
// masterlost and the heartbeats sent outside the interval (a master just
// synced, a writer that lost a master) go by unicast to every member
// that does not hear the group.
//
// Traffic. A master sends about N datagrams per interval and receives as
// many; every other node sends about 4 + GossipFanout (masters, random
// members, a candidate, one list) and receives about as many: the cluster carries O(N) datagrams per interval, no full
// mesh (see the simulation in sim_test.go). The price: a node that is not
// a master knows the masters and a changing handful of other members, not
// all of them. Elections do not need more: the proposer when a seat is
// empty is the surviving master, which hears from everyone. When both
// masters are lost at once, nodes with partial views may propose
// different pairs; the epoch and address order of election.Better still
// make them converge once the new masters heartbeat to every member they
// know, which then includes every node that contacted them.
//
// Trust. What decides for the cluster comes only from a member's own
// datagrams, as on the group: a heartbeat is accepted only from the
// address it names (and, once known, its port), so a member's liveness,
// key count, synced flag and the pair it holds are its own word; the pair
// rules of acceptable() apply unchanged. A members list, relayed
// knowledge, is taken only from a member's own address and port and makes
// the addresses it lists candidates, nothing more: this node then sends
// its heartbeat to at most GossipFanout of them per interval and counts
// one as a member only once it answers from that address with its own
// heartbeat. Candidates are bounded (maxCandidates) and expire. Accepting
// membership datagrams by unicast at all (which, unlike the group's, may
// come from off the LAN) is opt-in: only a node with seeds or without the
// group does. With a cluster key every datagram, unicast included, is
// sealed by the sender (mcast.Sealed), so a relay from a member could be
// trusted further; this code does not rely on it, so both modes behave
// the same.
//
// Invalidations: a writer sends its invalidation to the members it knows;
// the first live master of its pair, which knows every member, relays
// one of its own (for the version it holds, never a version it was only
// told of) to the members that do not hear the group.

// How a member was found, as Status shows it.
const (
	FoundGroup  = api.FoundGroup  // its heartbeat arrived on the multicast group
	FoundJoin   = api.FoundJoin   // a seed of this node, or it contacted this node by unicast itself
	FoundGossip = api.FoundGossip // another member listed it, then it answered directly
)

// candidate is a node another member listed (or a seed) that has not yet
// answered this node directly.
type candidate struct {
	port  uint16
	found string
	until time.Time // forgotten after this unless listed again
}

// maxCandidates bounds the candidates a node remembers.
const maxCandidates = 256

// maxNamedMasters bounds how many candidates named as masters in
// members' heartbeats a node contacts each interval: beyond it (members
// naming many different pairs) they are contacted like any candidate.
const maxNamedMasters = 4

// unicastOn reports whether this node takes part in the unicast
// membership: it has seeds, or no group.
func (n *Node) unicastOn() bool { return n.cfg.Seeds != nil || n.cfg.NoMulticast }

// byGroup reports whether m hears this node's multicasts: this node
// multicasts and m's own heartbeats arrived on the group within the last
// two intervals (it has missed at most one there).
func (n *Node) byGroup(m *member) bool {
	return !n.cfg.NoMulticast && !m.groupAt.IsZero() && n.now().Sub(m.groupAt) <= 2*n.cfg.HeartbeatInterval
}

// seeds returns the node's seeds, none when it has no Seeds.
func (n *Node) seeds() []netip.AddrPort {
	if n.cfg.Seeds == nil {
		return nil
	}
	return n.cfg.Seeds()
}

// isSeed reports whether a is the address of one of the seeds.
func (n *Node) isSeed(a netip.Addr) bool {
	for _, s := range n.seeds() {
		if s.Addr() == a {
			return true
		}
	}
	return false
}

// foundBy says how a new member whose first heartbeat is p was found.
func (n *Node) foundBy(p mcast.Packet, a netip.Addr) string {
	switch {
	case p.Group:
		return FoundGroup
	case n.isSeed(a):
		return FoundJoin
	}
	if c, ok := n.own.candidates[a]; ok {
		return c.found
	}
	return FoundJoin
}

// gossip sends this interval's unicast heartbeats and members lists, on
// the loop.
func (n *Node) gossip(hb mcast.Message) {
	if !n.unicastOn() {
		return
	}
	o := &n.own
	now := n.now()
	isMaster := o.pair.Has(n.self)
	targets := make(map[netip.Addr]netip.AddrPort)
	var listTo []netip.AddrPort
	var pool []netip.AddrPort // members that do not hear the group, nor are sent to anyway
	for a, m := range o.members {
		switch {
		case n.byGroup(m) || m.port == 0:
		case isMaster || o.pair.Has(a):
			targets[a] = netip.AddrPortFrom(a, m.port)
		default:
			pool = append(pool, netip.AddrPortFrom(a, m.port))
		}
	}
	k := n.cfg.GossipFanout
	rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for i, to := range pool[:min(k, len(pool))] {
		targets[to.Addr()] = to
		if i == 0 {
			listTo = append(listTo, to) // one list per interval spreads addresses well enough
		}
	}
	if isMaster && len(pool) == 0 && len(targets) > 0 {
		// Every member is sent to anyway: list to one of them, so that a
		// cluster of masters and few others still spreads addresses.
		for _, to := range targets {
			listTo = append(listTo, to)
			break
		}
	}
	for _, s := range n.seeds() {
		if _, ok := o.members[s.Addr()]; !ok && s.Addr() != n.self {
			targets[s.Addr()] = s
			listTo = append(listTo, s)
		}
	}
	// Candidates: every one that a member's heartbeat names as a master
	// (this node must hear from the masters to adopt their pair), and
	// one more at random, so that views keep widening.
	named := make(map[netip.Addr]bool)
	for _, a := range o.pair.Masters {
		named[a] = true
	}
	for _, m := range o.members {
		for _, a := range m.pair.Masters {
			named[a] = true
		}
	}
	var cands []netip.AddrPort
	for a, c := range o.candidates {
		if _, ok := o.members[a]; ok || now.After(c.until) {
			delete(o.candidates, a)
			continue
		}
		if named[a] && len(named) <= maxNamedMasters {
			targets[a] = netip.AddrPortFrom(a, c.port)
			continue
		}
		cands = append(cands, netip.AddrPortFrom(a, c.port))
	}
	if len(cands) > 0 {
		to := cands[rand.N(len(cands))]
		targets[to.Addr()] = to
	}
	for _, to := range targets {
		n.reply(to, hb)
	}
	if list, ok := n.membersMsg(); ok {
		for _, to := range listTo {
			n.reply(to, list)
		}
	}
}

// membersMsg is the members list this node sends: the masters first,
// then members at random, up to MaxListed; false if it knows nobody.
func (n *Node) membersMsg() (mcast.Message, bool) {
	o := &n.own
	m := mcast.Message{Kind: mcast.Members, Addr: n.self}
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) {
		mem, ok := o.members[a]
		if !ok || seen[a] || mem.port == 0 || len(m.Listed) == mcast.MaxListed {
			return
		}
		seen[a] = true
		m.Listed = append(m.Listed, netip.AddrPortFrom(a, mem.port))
	}
	for _, a := range o.pair.Masters {
		add(a)
	}
	for a := range o.members { // map order: a random draw
		add(a)
	}
	return m, len(m.Listed) > 0
}

// onMembers takes the addresses a member lists as candidates, on the
// loop. Only a member's own list counts, and it decides nothing: see the
// package's trust rules above.
func (n *Node) onMembers(p mcast.Packet, m mcast.Message) {
	o := &n.own
	mem, ok := o.members[m.Addr]
	if m.Addr != p.From.Addr() || !ok || !sameSource(p, m.Addr, mem) {
		n.stats.Refused.Add(1)
		return
	}
	until := n.now().Add(2 * n.cfg.FailureTimeout)
	for _, a := range m.Listed {
		if a.Addr() == n.self {
			continue
		}
		if _, ok := o.members[a.Addr()]; ok {
			continue
		}
		c, ok := o.candidates[a.Addr()]
		if !ok {
			if len(o.candidates) >= maxCandidates {
				n.stats.Refused.Add(1)
				return
			}
			c = &candidate{port: a.Port(), found: FoundGossip}
			o.candidates[a.Addr()] = c
		}
		c.until = until
	}
}

// welcome answers, by unicast, the first heartbeat a new member sent this
// node by unicast, if that member holds no pair or not this node's (a
// newcomer): this node's heartbeat, so that it hears of this node (and,
// from a master, of the pair) now rather than by chance, and a members
// list, so that it learns the masters and others.
func (n *Node) welcome(p mcast.Packet) {
	if !n.answerable(p, p.From) {
		return
	}
	n.reply(p.From, n.heartbeatMsg())
	if list, ok := n.membersMsg(); ok {
		n.reply(p.From, list)
	}
}

// relayInvalidation passes an invalidation a member sent this node by
// unicast on to the members that do not hear the group, if this node is
// the first live master of its pair and holds the key at that version or
// newer: it announces its own version, never one it was only told of.
func (n *Node) relayInvalidation(p mcast.Packet, m mcast.Message, key string, v store.Version) {
	o := &n.own
	if p.Group || !n.unicastOn() || !o.pair.Has(n.self) {
		return
	}
	for _, a := range o.pair.Masters {
		if a == n.self {
			break
		}
		if n.healthy(a) {
			return // the first master relays
		}
	}
	e, ok := n.durable.Get(key)
	if !ok || v.Newer(e.Version) {
		return
	}
	out := mcast.Message{Kind: mcast.Invalidate, Key: m.Key, Addr: n.self,
		Version: mcast.Stamp{Clock: e.Version.Clock, Node: e.Version.Node}}
	if e.Deleted {
		out.Flags |= mcast.FlagDeleted
	}
	for a, mem := range o.members {
		if a != m.Addr && !n.byGroup(mem) && mem.port != 0 {
			n.reply(netip.AddrPortFrom(a, mem.port), out)
		}
	}
}
