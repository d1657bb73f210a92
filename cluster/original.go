package cluster

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// Original nodes. A node of the original pydiststore (Python, 2009) can
// share the group with diststore nodes, in a cluster without a key (with
// one, every datagram is sealed and the original can neither read nor be
// heard). It speaks only the first four kinds of datagram, sends no
// heartbeat, and takes the first datagram to arrive after its whohas as
// the answer: one it cannot read makes it drop its client's connection.
// So this node:
//
//   - sends it nothing it cannot read: nokey goes only to members (nodes
//     that send heartbeats); an original asker gets gotkey or silence;
//   - knows it: as it starts, every Config.OriginalInterval after, and
//     soon after a non-member sends a query to the group, it multicasts
//     "keycount <self> <port>";
//     a non-member that answers "keycount <ip> <count>" from ip, within
//     the multicast timeout of the query, is an original node, listed in
//     the view with its count until it stays silent for three intervals;
//   - never counts one in an election: originals are not members, so a
//     forged keycount answer changes no master, and no master hands data
//     to one;
//   - steers them: the original sends its writes to the two nodes that
//     answer its keycount with the most keys, and elects again on any
//     "masterlost". A synced master answers an original's keycount with
//     its own count plus all the originals' plus one (it holds every key
//     of the cluster and copies theirs, see migrate.go; so that one that
//     grew since its last answer does not come first), and the first
//     master, having just asked for their
//     counts, multicasts "masterlost <self> <original>" until every original
//     it knows has asked again since this pair was synced; from then on
//     an original forwards every write to the diststore masters, where it
//     is a write through the cluster (StoreLocal).

// original is what the membership loop knows of an original node.
type original struct {
	keys     uint64
	lastSeen time.Time // its last keycount answer
	// steered is the epoch of the pair this node, as a synced master,
	// held when it answered the original's own keycount query: it has
	// elected since, and picked the masters of that pair; steeredAt is
	// when. Its writes reach the masters a multicast timeout later, when
	// its election ends.
	steered   uint64
	steeredAt time.Time
}

// maxOriginals bounds the original nodes this node keeps track of; more
// are ignored (and counted as refused datagrams).
const maxOriginals = 256

// origView is an original node as a view shows it.
type origView struct {
	keys uint64
	// steeredAt is when it elected this node's pair (see original), zero
	// if it has not since this node became a synced master of it.
	steeredAt time.Time
}

// askOriginals multicasts a keycount query, on the loop. Answers count
// for Config.MulticastTimeout.
func (n *Node) askOriginals() {
	o := &n.own
	o.askedAt = n.now()
	if o.firstAsk.IsZero() {
		o.firstAsk = o.askedAt
	}
	o.nextAsk = o.askedAt.Add(jitter(n.cfg.OriginalInterval))
	n.send(mcast.Message{Kind: mcast.KeyCount, Addr: n.self, N: uint64(n.tr.LocalAddr().Port())})
}

// sighted notes a query a non-member sent to the group from its own
// address: it may be an original node. If it is not known yet, this node
// asks for key counts now rather than at the next interval (at most once
// a heartbeat interval: else at the next tick after that).
func (n *Node) sighted(p mcast.Packet, a netip.Addr) {
	o := &n.own
	if a != p.From.Addr() || a == n.self || !o.booted {
		return
	}
	if _, member := o.members[a]; member {
		return
	}
	if _, known := o.originals[a]; known {
		return
	}
	if soon := o.askedAt.Add(n.cfg.HeartbeatInterval); soon.Before(o.nextAsk) {
		o.nextAsk = soon // the next tick asks, if this one cannot
	}
	if !n.now().Before(o.nextAsk) {
		n.askOriginals()
	}
}

// onKeyCountAnswer takes an original node's answer to this node's
// keycount query, on the loop.
func (n *Node) onKeyCountAnswer(p mcast.Packet, m mcast.Message) {
	o := &n.own
	_, member := o.members[m.Addr]
	if m.Addr != p.From.Addr() || m.Addr == n.self || member {
		if !member {
			n.stats.Refused.Add(1)
		}
		return // a member's answer to a query it should have ignored: it knows us from heartbeats
	}
	if o.askedAt.IsZero() || n.now().Sub(o.askedAt) > n.cfg.MulticastTimeout {
		n.stats.Refused.Add(1) // not asked for
		return
	}
	orig, known := o.originals[m.Addr]
	if !known {
		if len(o.originals) >= maxOriginals {
			n.stats.Refused.Add(1)
			return
		}
		orig = &original{}
		o.originals[m.Addr] = orig
		o.migrated = false // a new original: its keys are not copied yet
		n.log.Info("original node heard", "original", m.Addr.String(), "keys", m.N)
		n.kickMigrate()
	}
	changed := !known || orig.keys != m.N
	orig.keys, orig.lastSeen = m.N, n.now()
	if changed {
		n.publish()
	}
}

// onKeyCountQuery answers a keycount query from the group with this
// node's key count: the original's election. Members do not ask (they
// learn counts from heartbeats) and are not answered.
func (n *Node) onKeyCountQuery(p mcast.Packet, m mcast.Message) {
	o := &n.own
	if m.Addr == n.self {
		n.stats.Refused.Add(1) // not from this node's socket (those are dropped before): forged
		return
	}
	if _, member := o.members[m.Addr]; member {
		return
	}
	if m.N == 0 || m.N > 65535 {
		return
	}
	n.sighted(p, m.Addr)
	to := netip.AddrPortFrom(m.Addr, uint16(m.N))
	if !n.answerable(p, to) {
		return
	}
	count := uint64(n.durable.Len())
	if o.synced && o.pair.Has(n.self) && len(o.originals) > 0 {
		// A synced master holds every key of the cluster and copies the
		// originals' keys: rank it above every original, so that the
		// original forwards its writes here. Its own count and all the
		// originals' together, as it will hold at most once it has copied
		// theirs: an original that grew since its last answer (this node
		// may have asked seconds ago) still does not come first.
		var all uint64
		for _, orig := range o.originals {
			all += orig.keys
		}
		count += all + 1
		if orig, ok := o.originals[m.Addr]; ok && (orig.steered != o.pair.Epoch || orig.steeredAt.Before(o.syncedAt)) {
			orig.steered, orig.steeredAt = o.pair.Epoch, n.now()
			n.publish()
			n.kickMigrate() // a pass may start once its election is over
		}
	}
	n.reply(to, mcast.Message{Kind: mcast.KeyCount, Addr: n.self, N: count})
}

// tickOriginals is the originals' part of a tick: ask for key counts when
// due, forget the silent, and steer the others to this pair.
func (n *Node) tickOriginals() {
	o := &n.own
	now := n.now()
	if !o.booted {
		return
	}
	gone := false
	for a, orig := range o.originals {
		if _, member := o.members[a]; member || now.Sub(orig.lastSeen) > 3*n.cfg.OriginalInterval+n.cfg.MulticastTimeout {
			delete(o.originals, a)
			gone = true
			if !member {
				n.log.Info("original node gone", "original", a.String(), "silent", now.Sub(orig.lastSeen).Round(time.Millisecond).String())
			}
		}
	}
	if gone {
		n.kickMigrate()
	}
	if !now.Before(o.nextAsk) {
		n.askOriginals()
	}
	n.steer()
}

// steerInterval is how many OriginalIntervals apart the first master
// sends masterlost while an original has not elected it yet.
const steerInterval = 2

// steer multicasts "masterlost" when this node is the first synced master
// and an original it knows has not asked for key counts since this pair
// was synced. The originals elect again; diststore nodes ignore a
// masterlost for a master that is not theirs.
func (n *Node) steer() {
	o := &n.own
	if len(o.originals) == 0 || !o.synced || len(o.pair.Masters) == 0 || o.pair.Masters[0] != n.self {
		return
	}
	var behind []netip.Addr
	for a, orig := range o.originals {
		if orig.steered != o.pair.Epoch || orig.steeredAt.Before(o.syncedAt) {
			behind = append(behind, a)
		}
	}
	if len(behind) == 0 || (o.steeredAt.After(o.syncedAt) && n.now().Sub(o.steeredAt) < steerInterval*n.cfg.OriginalInterval) {
		return
	}
	if n.now().Sub(o.askedAt) > 2*n.cfg.HeartbeatInterval {
		// Their key counts first, fresh: the masters' answers must rank
		// above what the originals hold now. Steer at a later tick.
		n.askOriginals()
		return
	}
	o.steeredAt = n.now()
	top := rankOriginals(n.originalsOf(o))[0]
	n.log.Info("asking original nodes to elect this pair", "originals_behind", addrList(sortedAddrs(behind)))
	n.send(mcast.Message{Kind: mcast.MasterLost, Addr: n.self, Master: top})
}

// originalsOf returns the original nodes the loop knows and their key
// counts.
func (n *Node) originalsOf(o *owned) map[netip.Addr]origView {
	out := make(map[netip.Addr]origView, len(o.originals))
	for a, orig := range o.originals {
		ov := origView{keys: orig.keys}
		if orig.steered == o.pair.Epoch && !orig.steeredAt.Before(o.syncedAt) && o.synced && o.pair.Has(n.self) {
			ov.steeredAt = orig.steeredAt
		}
		out[a] = ov
	}
	return out
}

// rankOriginals orders original nodes as the original ranks its masters:
// most keys first, then by address compared as text. The first ones are
// the masters the originals hold (or would hold after an election), so
// they hold the latest value of every key written through them.
func rankOriginals(origs map[netip.Addr]origView) []netip.Addr {
	as := make([]netip.Addr, 0, len(origs))
	for a := range origs {
		as = append(as, a)
	}
	slices.SortFunc(as, func(a, b netip.Addr) int {
		ka, kb := origs[a].keys, origs[b].keys
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return strings.Compare(a.String(), b.String())
	})
	return as
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	slices.SortFunc(as, netip.Addr.Compare)
	return as
}

// copyVersion is the version of a value copied from original node a: its
// Clock is the copy's Unix time in seconds, far below any version a
// diststore clock hands out (milliseconds << 16), so every write through
// diststore, earlier or later, wins over it; among copies the later one
// wins. The original keeps no versions to do better with.
func (n *Node) copyVersion(a netip.Addr) store.Version {
	b := a.As4()
	return store.Version{Clock: uint64(max(n.now().Unix(), 1)), Node: uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])}
}

// isOriginal reports whether a is an original node this node knows.
func (n *Node) isOriginal(a netip.Addr) bool {
	_, ok := n.view.Load().originals[a]
	return ok
}
