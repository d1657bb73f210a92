package cluster

import (
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/mcast"
)

// The membership loop. One goroutine, run, owns the members, the master
// pair and whether this node, as a master, holds every key (owned). It
// handles every datagram, sends the heartbeats, expires silent members and
// runs elections, and it runs the requests of other goroutines (a writer
// that lost a master, the sync loop that finished a sync, Leave) as
// functions through inLoop. After each change it publishes an immutable
// view; readers load it without a lock.
//
// A test can step the loop by hand: build a Node with New, do not Start
// it, and call handlePacket and tick from the test's goroutine (inLoop
// runs its function at once on a node that was not started).

// member is what the loop knows of another node.
type member struct {
	keys     uint64
	lastSeen time.Time
	synced   bool          // it says it is a master holding every key
	migrated bool          // it says, as a synced master, it holds every key of every original node it knows
	port     uint16        // its unicast port, the source of its datagrams
	pair     election.Pair // the pair its last heartbeat held
	groupAt  time.Time     // when a heartbeat of it last arrived on the group
	found    string        // how this node first heard of it: FoundGroup, FoundJoin or FoundGossip
	// local: it may hold keys stored with POST /local that the masters
	// may not hold (FlagLocalKeys, or a release without FlagTellsLocal).
	local bool
}

// epochJumpBound is how far above the highest epoch this node has seen a
// pair's epoch may be for one heartbeat to make this node adopt it. A
// larger jump is adopted only once two members hold that pair: one
// datagram, or one node, cannot move the cluster to an epoch nobody can
// beat.
const epochJumpBound = 16

// owned is the membership loop's state: only the loop reads or writes it.
type owned struct {
	members   map[netip.Addr]*member
	pair      election.Pair
	booted    bool      // the bootstrap window is over or a pair was learnt
	synced    bool      // as a master, this node holds every key
	lastReply time.Time // last heartbeat sent in answer to another node
	bootUntil time.Time // end of the bootstrap window
	lastTick  time.Time // when the last tick ran, to notice a pause
	answers   answerLimiter
	// candidates are nodes learnt from seeds or members lists that have
	// not answered directly yet (gossip.go).
	candidates map[netip.Addr]*candidate
	// unicastJoins counts the members first heard by unicast since the
	// last tick (maxUnicastJoins).
	unicastJoins int

	// Original nodes (original.go).
	originals map[netip.Addr]*original
	firstAsk  time.Time // when this node first asked the group for key counts
	askedAt   time.Time // when this node last asked the group for key counts
	nextAsk   time.Time // when it asks next
	syncedAt  time.Time // when it last became a synced master
	steeredAt time.Time // when it last sent masterlost to steer the originals
	migrated  bool      // as a synced master, the migrate loop found every original key held here
}

// maxMembers bounds the member table: heartbeats of more nodes than this
// are ignored.
const maxMembers = 4096

// maxUnicastJoins bounds how many new members a node takes by unicast per
// heartbeat interval: unicast, unlike the group, can come from off the
// LAN, and a master sends its heartbeat to every member.
const maxUnicastJoins = 64

// answerLimiter bounds the answers (gotkey, nokey, keycount) sent on behalf
// of one source address: answerRate per second, bursts of answerBurst. It
// remembers at most answerSources sources. Only the loop uses it.
type answerLimiter struct {
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const (
	answerRate    = 500.0
	answerBurst   = 1000.0
	answerSources = 4096
)

// allow takes one answer from src's bucket, if it has one.
func (l *answerLimiter) allow(src netip.Addr, now time.Time) bool {
	if l.buckets == nil {
		l.buckets = make(map[netip.Addr]*bucket)
	}
	b, ok := l.buckets[src]
	if !ok {
		if len(l.buckets) >= answerSources {
			clear(l.buckets) // a flood of sources: start again rather than grow
		}
		b = &bucket{tokens: answerBurst, at: now}
		l.buckets[src] = b
	}
	b.tokens = min(answerBurst, b.tokens+now.Sub(b.at).Seconds()*answerRate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// memberView is another member as a view shows it.
type memberView struct {
	keys     uint64
	synced   bool
	migrated bool
	found    string
	local    bool
}

// view is a snapshot of the membership that the loop published. It is
// never changed once published.
type view struct {
	pair    election.Pair
	members map[netip.Addr]memberView // the other live members
	booted  bool
	synced  bool // this node is a master of pair and holds every key
	// originals are the nodes of the original pydiststore on the group.
	originals map[netip.Addr]origView
	migrated  bool // this node is a synced master holding every key the originals listed
	// originalsChecked: this node asked for original nodes (it does as
	// it starts) at least two heartbeat intervals ago, so originals says
	// who is on the group.
	originalsChecked bool
	// changed is closed when a view with another pair replaces this one.
	changed chan struct{}
	// unicastTo are the members that do not hear the group, by their
	// unicast address: where the node sends by unicast what it multicasts
	// (gossip.go). Empty unless the node joins by unicast.
	unicastTo []netip.AddrPort
	// groupHeard: a member, or an original node, is heard on the group;
	// a node that joins by unicast and hears no one there resolves misses
	// through the masters at once rather than by a whohas nobody hears.
	groupHeard bool
	// mastersHoldAll: no member may hold a key the masters do not (every
	// member says it holds no key stored with POST /local) and no
	// original node is on the group, so the synced masters can answer
	// a miss alone, without a whohas to every node.
	mastersHoldAll bool
}

func (v *view) isMaster(self netip.Addr) bool { return v.pair.Has(self) }

// hasMember reports whether a is another live member.
func (v *view) hasMember(a netip.Addr) bool {
	_, ok := v.members[a]
	return ok
}

// authoritative reports whether self is a synced master: it holds every key.
func (v *view) authoritative(self netip.Addr) bool { return v.synced && v.pair.Has(self) }

// ready reports whether the bootstrap is over and the masters are known.
func (v *view) ready() bool { return v.booted && len(v.pair.Masters) > 0 }

// syncedMasters returns the masters other than self that say they are
// synced.
func (v *view) syncedMasters(self netip.Addr) []netip.Addr {
	var ms []netip.Addr
	for _, m := range v.pair.Masters {
		if mem, ok := v.members[m]; m != self && ok && mem.synced {
			ms = append(ms, m)
		}
	}
	return ms
}

// run is the membership loop; it returns when the node stops.
func (n *Node) run() {
	packets := n.tr.Packets()
	n.own.bootUntil = n.now().Add(2 * n.cfg.HeartbeatInterval)
	n.own.lastTick = n.now()
	n.send(n.heartbeatMsg())
	// After the heartbeat, so that members hear of this node first and do
	// not answer: only original nodes do.
	n.askOriginals()
	t := time.NewTimer(jitter(n.cfg.HeartbeatInterval) / 2)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case p, ok := <-packets:
			if !ok {
				packets = nil // the transport closed: keep ticking until stopped
				continue
			}
			n.handlePacket(p)
		case f := <-n.requests:
			f()
		case <-t.C:
			n.tick()
			t.Reset(jitter(n.cfg.HeartbeatInterval))
		}
	}
}

// inLoop runs f on the membership loop and waits for it. It reports false
// if the node stopped first. On a node that was never started, the caller
// is the loop: f runs at once.
func (n *Node) inLoop(f func()) bool {
	if !n.started.Load() {
		f()
		return true
	}
	done := make(chan struct{})
	select {
	case n.requests <- func() { f(); close(done) }:
		<-done
		return true
	case <-n.stop:
		return false
	}
}

// publish makes the loop's state the view everyone reads.
func (n *Node) publish() {
	o := &n.own
	old := n.view.Load()
	v := &view{
		pair:    o.pair,
		members: make(map[netip.Addr]memberView, len(o.members)),
		booted:  o.booted,
		synced:  o.synced && o.pair.Has(n.self),
		changed: old.changed,

		originals: n.originalsOf(o),
	}
	v.migrated = v.synced && o.migrated
	v.groupHeard = len(v.originals) > 0
	v.originalsChecked = !o.firstAsk.IsZero() && n.now().Sub(o.firstAsk) >= 2*n.cfg.HeartbeatInterval
	unicast := n.unicastOn()
	v.mastersHoldAll = len(v.originals) == 0 && v.originalsChecked
	for a, m := range o.members {
		v.members[a] = memberView{keys: m.keys, synced: m.synced, migrated: m.migrated, found: m.found, local: m.local}
		v.mastersHoldAll = v.mastersHoldAll && !m.local
		if unicast && !n.byGroup(m) && m.port != 0 {
			v.unicastTo = append(v.unicastTo, netip.AddrPortFrom(a, m.port))
		}
		v.groupHeard = v.groupHeard || n.byGroup(m)
	}
	if !old.pair.Equal(o.pair) {
		close(old.changed)
		v.changed = make(chan struct{})
	}
	n.view.Store(v)
}

// handlePacket handles one datagram, on the loop.
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
	// Each kind only on its own channel: what the group carries only from
	// the group socket, answers only on the unicast socket. A keycount
	// is a query on the group and an answer by unicast. A node that joins
	// by unicast also takes the group's membership kinds by unicast, and
	// members lists only by unicast (gossip.go).
	group := m.Kind != mcast.GotKey && m.Kind != mcast.NoKey && m.Kind != mcast.Members
	unicastToo := n.unicastOn() && (m.Kind == mcast.Heartbeat || m.Kind == mcast.Bye ||
		m.Kind == mcast.Invalidate || m.Kind == mcast.MasterLost || m.Kind == mcast.Members)
	if m.Kind != mcast.KeyCount && p.Group != group && (p.Group || !unicastToo) {
		n.stats.Refused.Add(1)
		return
	}
	switch m.Kind {
	case mcast.Heartbeat:
		n.onHeartbeat(p, m)
	case mcast.Bye:
		n.onBye(p, m)
	case mcast.WhoHas:
		n.onWhoHas(p, m)
	case mcast.GotKey, mcast.NoKey:
		n.onAnswer(p, m)
	case mcast.KeyCount:
		if p.Group {
			n.onKeyCountQuery(p, m)
		} else {
			n.onKeyCountAnswer(p, m)
		}
	case mcast.MasterLost:
		n.sighted(p, m.Addr)
		n.onMasterLost(m)
	case mcast.Invalidate:
		n.onInvalidate(p, m)
	case mcast.Members:
		n.onMembers(p, m)
	}
}

// answerable reports whether a reply may go to to: the datagram's own
// source address (any port), or a member's known unicast address and
// port, and the source has not used up its answers for now. Anything else
// would reflect traffic at a third party.
//
// Any port of the source address: the original sends each query from a
// fresh socket and reads the answers on another, whose port the query
// names. That gives a sender no more than the source's own port did: a
// host that forges its source address picks the source port too.
func (n *Node) answerable(p mcast.Packet, to netip.AddrPort) bool {
	ok := to.Addr() == p.From.Addr()
	if mem, known := n.own.members[to.Addr()]; known && mem.port == to.Port() {
		ok = true
	}
	if !ok || !n.own.answers.allow(p.From.Addr(), n.now()) {
		n.stats.Refused.Add(1)
		return false
	}
	return true
}

// sameSource reports whether p comes from member m's own address and port.
func sameSource(p mcast.Packet, a netip.Addr, m *member) bool {
	return p.From.Addr() == a && (m.port == 0 || m.port == p.From.Port())
}

// acceptable reports whether this node may adopt pair p, which from's
// heartbeat holds and which is better than its own. Without a cluster key
// anyone on the LAN can send a heartbeat, so no single one may decide:
//
//   - p names one or two distinct masters, each this node or a live
//     member, at an epoch no higher than election.MaxEpoch;
//   - p fills every seat this node counts (min(Seats, members)): a lone
//     node naming itself sole master of a cluster is not a decision;
//   - a pair that drops a master this node still hears from (or this node
//     itself) is adopted only from the masters it names, each holding it
//     in its own heartbeat, and never when it names this node: a healthy
//     master is replaced only when a split heals, by the other side's
//     pair;
//   - the same masters at a higher epoch only from the masters it names,
//     each holding it (nothing else re-elects a settled pair);
//   - its epoch is within epochJumpBound of the highest epoch seen from
//     live members, unless every master it names holds it and it does not
//     name this node.
//
// A legitimate change passes: a lost master is silent (a proposer's pair
// drops only silent masters, and a writer that could not reach one waits
// for the others to stop hearing it too), and a healed split's pair is
// spread by its masters' own heartbeats.
func (n *Node) acceptable(p election.Pair, from netip.Addr) bool {
	o := &n.own
	if p.Epoch > election.MaxEpoch || len(p.Masters) == 0 || len(p.Masters) > election.Seats ||
		(len(p.Masters) == 2 && p.Masters[0] == p.Masters[1]) {
		return false
	}
	for _, a := range p.Masters {
		if _, ok := o.members[a]; !ok && a != n.self {
			return false
		}
	}
	if len(p.Masters) < min(election.Seats, 1+len(o.members)) {
		return false
	}
	// held: every master p names, this node aside, holds p.
	held := true
	for _, a := range p.Masters {
		if m, ok := o.members[a]; a != n.self && (!ok || !m.pair.Equal(p)) {
			held = false
		}
	}
	for _, a := range o.pair.Masters {
		if !p.Has(a) && (a == n.self || n.healthy(a)) && (!held || p.Has(n.self)) {
			return false
		}
	}
	if slices.Equal(p.Masters, o.pair.Masters) && !held {
		// The same masters at a higher epoch changes nothing but makes
		// them sync again: only they may say so.
		return false
	}
	hi := o.pair.Epoch
	for a, m := range o.members {
		if a != from && m.pair.Epoch > hi && m.pair.Epoch < p.Epoch {
			hi = m.pair.Epoch
		}
	}
	return p.Epoch-hi <= epochJumpBound || (held && !p.Has(n.self))
}

// healthy reports whether member a was heard from within two heartbeat
// intervals: it has missed at most one.
func (n *Node) healthy(a netip.Addr) bool {
	m, ok := n.own.members[a]
	return ok && n.now().Sub(m.lastSeen) <= 2*n.cfg.HeartbeatInterval
}

func (n *Node) onHeartbeat(p mcast.Packet, m mcast.Message) {
	o := &n.own
	mem, known := o.members[m.Addr]
	if m.Addr != p.From.Addr() || m.Addr == n.self || (known && !sameSource(p, m.Addr, mem)) {
		n.stats.Refused.Add(1)
		return
	}
	defer n.publish()
	if _, was := o.originals[m.Addr]; was {
		delete(o.originals, m.Addr) // it sends heartbeats: a diststore node after all
	}
	if m.Flags&mcast.FlagLeaving != 0 {
		delete(o.members, m.Addr)
		n.reconsider()
		return
	}
	theirs := election.Pair{Epoch: m.Epoch, Masters: m.Masters}
	if !known {
		if len(o.members) >= maxMembers || (!p.Group && o.unicastJoins >= maxUnicastJoins) {
			n.stats.Refused.Add(1)
			return
		}
		if !p.Group {
			o.unicastJoins++
		}
		mem = &member{port: p.From.Port(), found: n.foundBy(p, m.Addr)}
		o.members[m.Addr] = mem
		delete(o.candidates, m.Addr)
		n.log.Log(n.ctx, n.memberLogLevel(m.Addr, mem, slog.LevelInfo), "member joined", "member", m.Addr.String(),
			"keys", m.N, "found", mem.found)
		if !p.Group && (len(theirs.Masters) == 0 || !theirs.Equal(o.pair)) {
			n.welcome(p)
		}
	}
	if p.Group {
		mem.groupAt = n.now()
	}
	synced := m.Flags&mcast.FlagSynced != 0
	if synced && (!mem.synced || !mem.pair.Equal(theirs)) && theirs.Equal(o.pair) && o.pair.Has(m.Addr) &&
		!o.pair.Has(n.self) && n.demoting.Load() {
		n.kickSync() // a master of the pair is synced: a demotion waiting for it goes on
	}
	mem.keys, mem.lastSeen, mem.synced, mem.pair = m.N, n.now(), synced, theirs
	mem.migrated = synced && m.Flags&mcast.FlagMigrated != 0
	mem.local = m.Flags&mcast.FlagTellsLocal == 0 || m.Flags&mcast.FlagLocalKeys != 0
	if len(theirs.Masters) > 0 && election.Better(theirs, o.pair) {
		if n.acceptable(theirs, m.Addr) {
			n.adopt(theirs, "learnt from "+m.Addr.String())
		} else {
			n.stats.Refused.Add(1)
			n.log.Debug("pair not adopted", "from", m.Addr.String(), "epoch", theirs.Epoch, "masters", addrList(theirs.Masters))
		}
	}
	// A master answers a newcomer, or a member holding an older pair, at
	// once, so it need not wait a heartbeat interval to learn the masters.
	if o.pair.Has(n.self) && (!known || election.Better(o.pair, theirs)) &&
		n.now().Sub(o.lastReply) > n.cfg.HeartbeatInterval/10 {
		o.lastReply = n.now()
		if p.Group {
			n.multicast(n.heartbeatMsg())
		} else if known {
			n.reply(netip.AddrPortFrom(m.Addr, mem.port), n.heartbeatMsg()) // a newcomer was welcomed above
		}
	}
}

func (n *Node) onBye(p mcast.Packet, m mcast.Message) {
	if m.Addr != p.From.Addr() {
		n.stats.Refused.Add(1)
		return
	}
	o := &n.own
	mem, ok := o.members[m.Addr]
	if !ok {
		return
	}
	if !sameSource(p, m.Addr, mem) {
		n.stats.Refused.Add(1) // its address, another port: not the member
		return
	}
	delete(o.members, m.Addr)
	n.log.Info("member left", "member", m.Addr.String())
	n.reconsider()
	n.publish()
	if o.pair.Has(n.self) {
		n.send(n.heartbeatMsg())
	}
}

// onMasterLost handles another node's report that it could not reach a
// master. The reporter proposes the replacement itself; here a master
// that has also been silent for two heartbeat intervals is dropped at once.
func (n *Node) onMasterLost(m mcast.Message) {
	o := &n.own
	mem, ok := o.members[m.Master]
	if ok && o.pair.Has(m.Master) && n.now().Sub(mem.lastSeen) > 2*n.cfg.HeartbeatInterval {
		delete(o.members, m.Master)
		n.log.Warn("master lost", "master", m.Master.String(), "reported_by", m.Addr.String())
		n.reconsider()
		n.publish()
	}
}

// tick is the loop's periodic step: end the bootstrap window, expire
// silent members, run an election if a seat is empty, and send a
// heartbeat.
func (n *Node) tick() {
	o := &n.own
	now := n.now()
	if !o.booted && !now.Before(o.bootUntil) && (len(o.members) > 0 || n.cfg.Seeds == nil ||
		!now.Before(o.bootUntil.Add(n.cfg.FailureTimeout))) {
		// A node with seeds that has heard from nobody yet waits up to a
		// failure timeout longer before it elects itself: its seeds may
		// still be starting, and on unicast nothing else finds it.
		o.booted = true
	}
	if gap := now.Sub(o.lastTick); gap > n.cfg.FailureTimeout {
		// This node was stopped (SIGSTOP, a VM pause): the others'
		// silence is its own. Hear from them again before judging; a
		// newer master pair in their heartbeats makes it step down.
		n.log.Warn("node was paused; not expiring members this round", "gap", gap.Round(time.Millisecond).String())
		for _, m := range o.members {
			m.lastSeen = now
		}
	}
	o.lastTick = now
	o.unicastJoins = 0
	n.expire()
	n.reconsider()
	n.tickOriginals()
	n.publish()
	hb := n.heartbeatMsg()
	n.multicast(hb)
	n.gossip(hb)
}

// memberLogLevel is the level to log a member's arrival or loss at: the
// members a node that is not a master hears only now and then by unicast
// gossip come and go all the time, which is news only at debug level.
func (n *Node) memberLogLevel(a netip.Addr, m *member, level slog.Level) slog.Level {
	if n.byGroup(m) || n.isSeed(a) || n.own.pair.Has(a) || n.own.pair.Has(n.self) || !n.unicastOn() {
		return level
	}
	return slog.LevelDebug
}

// expire drops members silent for longer than the failure timeout.
func (n *Node) expire() {
	o := &n.own
	for a, m := range o.members {
		if silent := n.now().Sub(m.lastSeen); silent > n.cfg.FailureTimeout {
			delete(o.members, a)
			n.log.Log(n.ctx, n.memberLogLevel(a, m, slog.LevelWarn), "member lost", "member", a.String(),
				"silent", silent.Round(time.Millisecond).String(), "was_master", o.pair.Has(a))
		}
	}
}

// viewOf returns the live members, this node included, sorted by address,
// as election sees them. keys is this node's own key count.
func (n *Node) viewOf(keys int) []election.Member {
	o := &n.own
	members := make([]election.Member, 0, len(o.members)+1)
	members = append(members, election.Member{Addr: n.self, Keys: uint64(keys)})
	for a, m := range o.members {
		members = append(members, election.Member{Addr: a, Keys: m.keys})
	}
	slices.SortFunc(members, func(a, b election.Member) int { return a.Addr.Compare(b.Addr) })
	return members
}

// reconsider proposes a new pair when a seat is empty and this node is the
// one to propose.
func (n *Node) reconsider() {
	if !n.own.booted {
		return
	}
	view := n.viewOf(n.durable.Len())
	if !election.Settled(view, n.own.pair) {
		// A pair that fills every seat and that each of its masters holds
		// (the other side's, after a split healed) is joined rather than
		// contested, even at a lower epoch: a lone master's side gives
		// way to a full pair.
		if q, ok := n.heldPair(len(view)); ok {
			n.adopt(q, "joined the pair its masters hold")
			return
		}
	}
	if p, ok := election.Decide(n.self, view, n.own.pair); ok {
		n.stats.Elections.Add(1)
		n.adopt(p, "elected")
	}
}

// heldPair returns the best pair that fills min(Seats, members) seats,
// does not name this node, and that each master it names, a member heard
// from within two heartbeat intervals, holds in its own heartbeat.
func (n *Node) heldPair(members int) (election.Pair, bool) {
	o := &n.own
	var best election.Pair
	found := false
	for _, m := range o.members {
		q := m.pair
		if len(q.Masters) != min(election.Seats, members) || q.Has(n.self) || q.Epoch > election.MaxEpoch ||
			(found && !election.Better(q, best)) {
			continue
		}
		held := true
		for _, a := range q.Masters {
			mm, ok := o.members[a]
			held = held && ok && n.healthy(a) && mm.pair.Equal(q)
		}
		if held {
			best, found = q, true
		}
	}
	return best, found
}

// adopt makes p the pair this node holds, publishes it and wakes the sync
// loop.
func (n *Node) adopt(p election.Pair, why string) {
	o := &n.own
	was := o.pair.Has(n.self)
	o.pair = p
	o.booted = true
	is := o.pair.Has(n.self)
	o.migrated = false // the migrate loop checks again against the new pair
	n.log.Info("masters changed", "epoch", p.Epoch, "masters", addrList(p.Masters), "why", why)
	switch {
	case is && !was:
		// What it holds durably is a master's data again, whatever a
		// check against the old masters had got to: the sync decides.
		o.synced = false
		n.demoting.Store(false)
	case !is:
		o.synced = false
		if was {
			// Its data may be older than the new masters': reads skip it
			// until the sync loop has checked it (demote).
			n.demoting.Store(true)
		}
	}
	// Publish first: the sync loop reads the pair from the view.
	n.publish()
	// A new master syncs; a master with a new partner checks again what
	// the partner lacks; any other node checks what it holds durably
	// against the masters.
	n.kickSync()
}

func (n *Node) kickSync() {
	select {
	case n.syncKick <- struct{}{}:
	default:
	}
}

// heartbeatMsg is this node's heartbeat, from the loop's state.
func (n *Node) heartbeatMsg() mcast.Message {
	o := &n.own
	m := mcast.Message{
		Kind:    mcast.Heartbeat,
		Addr:    n.self,
		N:       uint64(n.durable.Len()),
		Epoch:   o.pair.Epoch,
		Masters: o.pair.Masters,
		Flags:   mcast.FlagTellsLocal,
	}
	if n.holdsLocal() {
		m.Flags |= mcast.FlagLocalKeys
	}
	if o.synced && o.pair.Has(n.self) {
		m.Flags |= mcast.FlagSynced
		if o.migrated {
			m.Flags |= mcast.FlagMigrated
		}
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
	var replaced bool
	var hb mcast.Message
	ok := n.inLoop(func() {
		o := &n.own
		if !o.pair.Has(a) {
			return // someone already replaced it
		}
		n.log.Warn("master unreachable", "master", a.String(), "err", cause)
		delete(o.members, a)
		n.stats.Elections.Add(1)
		n.adopt(election.Replace(n.viewOf(n.durable.Len()), o.pair, a), "master "+a.String()+" unreachable")
		n.publish()
		replaced, hb = true, n.heartbeatMsg()
	})
	if ok && replaced {
		n.send(mcast.Message{Kind: mcast.MasterLost, Addr: n.self, Master: a})
		n.send(hb)
	}
	return n.Masters()
}

// markSynced records, for the sync loop, that this node holds every key
// as a master of pair. It reports whether pair is still the current one
// and whether this is the first sync of it; if so it announces it.
func (n *Node) markSynced(pair election.Pair) (current, first bool) {
	var hb mcast.Message
	n.inLoop(func() {
		o := &n.own
		if !o.pair.Equal(pair) {
			return
		}
		current, first = true, !o.synced
		o.synced = true
		if first {
			o.syncedAt = n.now()
		}
		n.publish()
		hb = n.heartbeatMsg()
	})
	if first {
		n.send(hb) // tell the others now rather than at the next heartbeat
	}
	return current, first
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
