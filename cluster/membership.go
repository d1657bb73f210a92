package cluster

import (
	"net/netip"
	"slices"
	"time"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
)

// receiveLoop reads datagrams until the node stops. Handlers never block
// on the network: they update state and send UDP.
func (n *Node) receiveLoop() {
	packets := n.tr.Packets()
	for {
		select {
		case <-n.stop:
			return
		case p, ok := <-packets:
			if !ok {
				return
			}
			n.handlePacket(p)
		}
	}
}

func (n *Node) handlePacket(p mcast.Packet) {
	if p.From == n.tr.LocalAddr() {
		return // our own multicast, looped back
	}
	m, err := mcast.Decode(p.Data)
	if err != nil {
		n.stats.BadDatagrams.Add(1)
		n.log.Debug("dropped datagram", "from", p.From.String(), "err", err)
		return
	}
	switch m.Kind {
	case mcast.Heartbeat:
		n.onHeartbeat(p, m)
	case mcast.Bye:
		n.onBye(p, m)
	case mcast.WhoHas:
		if p.Group {
			n.onWhoHas(p, m)
		}
	case mcast.GotKey, mcast.NoKey:
		if !p.Group {
			n.onAnswer(p, m)
		}
	case mcast.KeyCount:
		if p.Group {
			n.onKeyCountQuery(p, m)
		}
	case mcast.MasterLost:
		n.onMasterLost(m)
	case mcast.Invalidate:
		if p.Group {
			n.onInvalidate(p, m)
		}
	}
}

// answerable reports whether a reply may go to a: the datagram's own
// source, or a known member. Anything else would reflect traffic at a
// third party.
func (n *Node) answerable(p mcast.Packet, a netip.Addr) bool {
	if a == p.From.Addr() {
		return true
	}
	n.mu.Lock()
	_, ok := n.members[a]
	n.mu.Unlock()
	if !ok {
		n.stats.Refused.Add(1)
	}
	return ok
}

func (n *Node) onHeartbeat(p mcast.Packet, m mcast.Message) {
	if m.Addr != p.From.Addr() || m.Addr == n.self {
		n.stats.Refused.Add(1)
		return
	}
	theirs := election.Pair{Epoch: m.Epoch, Masters: m.Masters}
	n.mu.Lock()
	if m.Flags&mcast.FlagLeaving != 0 {
		delete(n.members, m.Addr)
		n.reconsiderLocked()
		n.mu.Unlock()
		return
	}
	mem, known := n.members[m.Addr]
	if !known {
		mem = &member{}
		n.members[m.Addr] = mem
		n.log.Info("member joined", "member", m.Addr.String(), "keys", m.N)
	}
	mem.keys, mem.lastSeen, mem.synced = m.N, n.now(), m.Flags&mcast.FlagSynced != 0
	if len(theirs.Masters) > 0 && election.Better(theirs, n.pair) {
		n.adoptLocked(theirs, "learnt from "+m.Addr.String())
	}
	// A master answers a newcomer, or a member holding an older pair, at
	// once, so it need not wait a heartbeat interval to learn the masters.
	answer := n.pair.Has(n.self) && (!known || election.Better(n.pair, theirs)) &&
		n.now().Sub(n.lastReply) > n.cfg.HeartbeatInterval/10
	if answer {
		n.lastReply = n.now()
	}
	hb := n.heartbeatLocked()
	n.mu.Unlock()
	if answer {
		n.send(hb)
	}
}

func (n *Node) onBye(p mcast.Packet, m mcast.Message) {
	if m.Addr != p.From.Addr() {
		n.stats.Refused.Add(1)
		return
	}
	n.mu.Lock()
	if _, ok := n.members[m.Addr]; ok {
		delete(n.members, m.Addr)
		n.log.Info("member left", "member", m.Addr.String())
		n.reconsiderLocked()
	}
	hb, changed := n.heartbeatLocked(), n.pair.Has(n.self)
	n.mu.Unlock()
	if changed {
		n.send(hb)
	}
}

// onMasterLost handles another node's report that it could not reach a
// master. The reporter proposes the replacement itself; here a master
// that has also been silent for two heartbeat intervals is dropped at once.
func (n *Node) onMasterLost(m mcast.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mem, ok := n.members[m.Master]
	if ok && n.pair.Has(m.Master) && n.now().Sub(mem.lastSeen) > 2*n.cfg.HeartbeatInterval {
		delete(n.members, m.Master)
		n.log.Warn("master lost", "master", m.Master.String(), "reported_by", m.Addr.String())
		n.reconsiderLocked()
	}
}

func (n *Node) onKeyCountQuery(p mcast.Packet, m mcast.Message) {
	if m.N == 0 || m.N > 65535 || !n.answerable(p, m.Addr) {
		return
	}
	to := netip.AddrPortFrom(m.Addr, uint16(m.N))
	n.reply(to, mcast.Message{Kind: mcast.KeyCount, Addr: n.self, N: uint64(n.durable.Len())})
}

// tickLoop sends heartbeats, expires silent members and runs elections.
func (n *Node) tickLoop() {
	bootUntil := n.now().Add(2 * n.cfg.HeartbeatInterval)
	n.send(n.heartbeat())
	t := time.NewTimer(jitter(n.cfg.HeartbeatInterval) / 2)
	defer t.Stop()
	lastTick := n.now()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		now := n.now()
		n.mu.Lock()
		if !n.booted && !now.Before(bootUntil) {
			n.booted = true
		}
		if gap := now.Sub(lastTick); gap > n.cfg.FailureTimeout {
			// This node was stopped (SIGSTOP, a VM pause): the others'
			// silence is its own. Hear from them again before judging;
			// a newer master pair in their heartbeats makes it step down.
			n.log.Warn("node was paused; not expiring members this round", "gap", gap.Round(time.Millisecond).String())
			for _, m := range n.members {
				m.lastSeen = now
			}
		}
		lastTick = now
		n.expireLocked()
		n.reconsiderLocked()
		hb := n.heartbeatLocked()
		n.mu.Unlock()
		n.send(hb)
		t.Reset(jitter(n.cfg.HeartbeatInterval))
	}
}

// expireLocked drops members silent for longer than the failure timeout.
func (n *Node) expireLocked() {
	for a, m := range n.members {
		if n.now().Sub(m.lastSeen) > n.cfg.FailureTimeout {
			delete(n.members, a)
			n.log.Warn("member lost", "member", a.String(), "silent", n.now().Sub(m.lastSeen).Round(time.Millisecond).String(),
				"was_master", n.pair.Has(a))
		}
	}
}

// viewLocked returns the live members, this node included, sorted by
// address. keys is this node's own key count.
func (n *Node) viewLocked(keys int) []election.Member {
	view := make([]election.Member, 0, len(n.members)+1)
	view = append(view, election.Member{Addr: n.self, Keys: uint64(keys)})
	for a, m := range n.members {
		view = append(view, election.Member{Addr: a, Keys: m.keys})
	}
	slices.SortFunc(view, func(a, b election.Member) int { return a.Addr.Compare(b.Addr) })
	return view
}

// reconsiderLocked proposes a new pair when a seat is empty and this node
// is the one to propose.
func (n *Node) reconsiderLocked() {
	if !n.booted {
		return
	}
	if p, ok := election.Decide(n.self, n.viewLocked(n.durable.Len()), n.pair); ok {
		n.stats.Elections.Add(1)
		n.adoptLocked(p, "elected")
	}
}

// adoptLocked makes p the pair this node holds.
func (n *Node) adoptLocked(p election.Pair, why string) {
	was := n.pair.Has(n.self)
	n.pair = p
	n.booted = true
	close(n.pairWait)
	n.pairWait = make(chan struct{})
	is := n.pair.Has(n.self)
	n.log.Info("masters changed", "epoch", p.Epoch, "masters", addrList(p.Masters), "why", why)
	switch {
	case is && !was:
		// What it holds durably is a master's data again, whatever a
		// check against the old masters had got to: the sync decides.
		n.synced, n.demoting = false, false
		n.kickSync()
	case is && was:
		n.kickSync() // a new partner may lack keys this node holds: check again
	case !is:
		n.synced = false
		if was {
			// Its data may be older than the new masters': reads skip it
			// until the sync loop has checked it (demote).
			n.demoting = true
		}
		n.kickSync() // check what this node holds durably against the masters
	}
}

func (n *Node) kickSync() {
	select {
	case n.syncKick <- struct{}{}:
	default:
	}
}

func (n *Node) heartbeat() mcast.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.heartbeatLocked()
}

func (n *Node) heartbeatLocked() mcast.Message {
	m := mcast.Message{
		Kind:    mcast.Heartbeat,
		Addr:    n.self,
		N:       uint64(n.durable.Len()),
		Epoch:   n.pair.Epoch,
		Masters: n.pair.Masters,
	}
	if n.synced && n.pair.Has(n.self) {
		m.Flags |= mcast.FlagSynced
	}
	if n.leaving.Load() {
		// Until it stops, a leaving node keeps saying so, so that nobody
		// counts it back in.
		m.Flags |= mcast.FlagLeaving
	}
	return m
}

// lostMaster is called by a writer that could not reach master a: it
// reports it, proposes a replacement and returns the new pair.
func (n *Node) lostMaster(a netip.Addr, cause error) election.Pair {
	n.mu.Lock()
	if !n.pair.Has(a) {
		p := n.pair
		n.mu.Unlock()
		return p // someone already replaced it
	}
	n.log.Warn("master unreachable", "master", a.String(), "err", cause)
	delete(n.members, a)
	n.stats.Elections.Add(1)
	n.adoptLocked(election.Replace(n.viewLocked(n.durable.Len()), n.pair, a), "master "+a.String()+" unreachable")
	p, hb := n.pair, n.heartbeatLocked()
	n.mu.Unlock()
	n.send(mcast.Message{Kind: mcast.MasterLost, Addr: n.self, Master: a})
	n.send(hb)
	return p
}

func addrList(as []netip.Addr) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ","
		}
		s += a.String()
	}
	return s
}
