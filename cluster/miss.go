package cluster

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// query is one outstanding whohas. Answers are delivered on the channels
// without blocking; a query that is not listening loses nothing it needs,
// since the first answers are the ones it uses.
type query struct {
	holders chan netip.Addr // nodes that answered gotkey
	nokey   chan netip.Addr // synced masters that answered nokey
}

// queries are the open whohas queries, by key. Miss resolution owns them:
// resolve opens and closes its query; the membership loop only looks one
// up to hand it an answer.
type queries struct {
	mu   sync.Mutex // guards open
	open map[string]*query
}

func (qs *queries) add(key string, q *query) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.open[key] = q
}

func (qs *queries) remove(key string) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	delete(qs.open, key)
}

func (qs *queries) get(key string) *query {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.open[key]
}

// GetLocal returns key's live entry if this node holds it, owned or
// cached. It never asks the cluster.
func (n *Node) GetLocal(key string) (store.Entry, bool) {
	return n.lookupLocal(key, true)
}

// Get returns key's entry: from this node if it holds it, else from the
// masters or the first node that answers a whohas (resolve), keeping a
// copy here. It returns ErrNotFound when no node holds the key.
func (n *Node) Get(ctx context.Context, key string) (store.Entry, Source, error) {
	if e, ok := n.lookupLocal(key, true); ok {
		n.stats.LocalHits.Add(1)
		return e, SourceLocal, nil
	}
	// A synced master holds every key written through the cluster: no
	// need to ask, unless original nodes are on the group (or it has not
	// asked for them yet), which may hold keys no master has copied yet.
	if v := n.view.Load(); v.authoritative(n.self) && len(v.originals) == 0 && v.originalsChecked {
		n.stats.Misses.Add(1)
		return store.Entry{}, "", ErrNotFound
	}
	ch := n.flight.DoChan(key, func() (any, error) {
		if !n.enterFlight() {
			return nil, ErrClosed
		}
		defer n.flights.Done()
		// A query for key that ended just now may have left a copy.
		if e, ok := n.lookupLocal(key, false); ok {
			return e, nil
		}
		return n.resolve(key)
	})
	select {
	case <-ctx.Done():
		return store.Entry{}, "", ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			if errors.Is(r.Err, ErrNotFound) {
				n.stats.Misses.Add(1)
			}
			return store.Entry{}, "", r.Err
		}
		n.stats.RemoteHits.Add(1)
		return r.Val.(store.Entry), SourcePeer, nil
	}
}

// resolve asks the cluster for key and fetches it from the first holder
// that answers. It runs once per key at a time (singleflight).
//
// When the synced masters hold every key any node holds (mastersHoldAll:
// no member says it holds keys stored with POST /local, and no original
// node is on the group), it asks them over HTTP and nobody else: one
// request, not a datagram that wakes every node. Otherwise, or when no
// master answers, it asks the group with a whohas, bounded by the
// multicast timeout plus one fetch. Datagrams get lost: it asks again
// after a sixteenth and an eighth of the multicast timeout, and after a
// quarter asks the synced masters directly over HTTP.
func (n *Node) resolve(key string) (store.Entry, error) {
	if n.cfg.NoMulticast || (n.unicastOn() && !n.view.Load().groupHeard) {
		return n.resolveByMasters(key)
	}
	if v := n.view.Load(); v.mastersHoldAll && len(v.syncedMasters(n.self)) > 0 {
		n.stats.Direct.Add(1)
		// No master may hold a key another lacks: one's word is enough.
		e, found, authoritative := n.askMasters(key, true)
		switch {
		case found:
			return n.accept(key, e)
		case authoritative:
			return store.Entry{}, ErrNotFound
		}
		// No master answered: the group may still know.
	}
	q := &query{holders: make(chan netip.Addr, 16), nokey: make(chan netip.Addr, 4)}
	n.queries.add(key, q)
	defer n.queries.remove(key)

	start := n.now()
	whohas := mcast.Message{Kind: mcast.WhoHas, Key: store.WireKey(key), Addr: n.self, Port: n.tr.LocalAddr().Port()}
	ask := func() {
		n.stats.Queries.Add(1)
		n.send(whohas)
	}
	ask()

	timeout := n.cfg.MulticastTimeout
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	retries := []time.Duration{timeout / 16, timeout / 8, timeout / 4} // after start; the last one asks over HTTP
	retry := time.NewTimer(retries[0])
	defer retry.Stop()
	tries := 0
	var grace <-chan time.Time
	// fallback are the original nodes that answered, asked only once the
	// masters said they lack the key (saidNo) or time is up.
	var fallback []netip.Addr
	saidNo := false
	var noFrom []netip.Addr // the masters that answered nokey
	// fetch reads key from a holder that answered.
	fetch := func(from netip.Addr) (store.Entry, bool) {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.FetchTimeout)
		e, err := n.peers.Fetch(ctx, n.peer(from), key)
		cancel()
		if err == nil {
			err = n.clock.Observe(e.Version) // a value from the future would win over every later write
		}
		if err != nil {
			n.log.Warn("fetch from holder failed", "holder", from.String(), "err", err)
			return store.Entry{}, false // try the next holder, if one answers in time
		}
		return e, true
	}
	fromOriginals := func() (store.Entry, error) {
		for _, from := range fallback {
			if e, ok := fetch(from); ok {
				if e.Version.IsZero() {
					e.Version = n.copyVersion(from) // the original keeps no versions
				}
				return n.fromOriginal(e)
			}
		}
		fallback = nil
		return store.Entry{}, ErrNotFound
	}
	noKey := func() {
		// A synced master holds every key written through the cluster.
		// Give holders of keys stored with POST /local (which no master
		// holds) as long again as the master took to answer; while
		// original nodes are on the group, which never say no, at least a
		// quarter of the multicast timeout.
		if grace == nil {
			floor := time.Millisecond
			if len(n.view.Load().originals) > 0 {
				floor = timeout / 4
			}
			grace = time.After(max(n.now().Sub(start), floor))
		}
	}
	for {
		select {
		case <-n.stop:
			return store.Entry{}, ErrClosed
		case <-deadline.C:
			return fromOriginals()
		case <-grace:
			return fromOriginals()
		case m := <-q.nokey:
			// Each master answers for what it holds, and a value stored
			// with POST /local on one reaches the other only at their
			// next digest check: the key is missing once every synced
			// master has said so.
			if !slices.Contains(noFrom, m) {
				noFrom = append(noFrom, m)
			}
			if len(noFrom) < len(n.view.Load().syncedMasters(n.self)) {
				continue
			}
			noKey()
			saidNo = true
			if e, err := fromOriginals(); err == nil {
				return e, nil
			}
		case <-retry.C:
			tries++
			if tries < len(retries) {
				ask()
				retry.Reset(retries[tries] - n.now().Sub(start))
				continue
			}
			e, found, authoritative := n.askMasters(key, false)
			if found {
				return n.accept(key, e)
			}
			if authoritative || n.view.Load().authoritative(n.self) {
				noKey()
				saidNo = true
				if e, err := fromOriginals(); err == nil {
					return e, nil
				}
			}
		case from := <-q.holders:
			if v := n.view.Load(); !saidNo && !v.hasMember(from) && len(v.syncedMasters(n.self)) > 0 {
				// Not a member: an original node. Its copy may be one it
				// cached long ago; a master's answer, which follows within
				// a round trip, is the one to take.
				if !slices.Contains(fallback, from) {
					fallback = append(fallback, from)
				}
				continue
			}
			if e, ok := fetch(from); ok {
				return n.accept(key, e)
			}
		}
	}
}

// resolveByMasters resolves a miss without the group (or on a group where
// no member is heard, for a node that joins by unicast): it asks the synced
// masters over HTTP, which hold every key, at once and again after each
// quarter of the multicast timeout while none is synced or reachable. At
// most two requests per round, whatever the cluster's size (one while no
// node says it may hold keys the masters lack); keys stored with POST
// /local on a node that is not a master cannot be found this way.
func (n *Node) resolveByMasters(key string) (store.Entry, error) {
	deadline := n.now().Add(n.cfg.MulticastTimeout)
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-n.stop:
			return store.Entry{}, ErrClosed
		case <-retry.C:
		}
		n.stats.Queries.Add(1)
		e, found, authoritative := n.askMasters(key, n.view.Load().mastersHoldAll)
		switch {
		case found:
			n.stats.Answers.Add(1)
			return n.accept(key, e)
		case authoritative:
			n.stats.Answers.Add(1)
			return store.Entry{}, ErrNotFound
		case !n.now().Before(deadline):
			return store.Entry{}, ErrNotFound
		}
		retry.Reset(min(n.cfg.MulticastTimeout/4, deadline.Sub(n.now())))
	}
}

// fromOriginal serves an entry read from an original node without
// keeping it: the masters copy the originals' keys from the nodes the
// originals elect (migrate.go), never from a copy one of them cached.
func (n *Node) fromOriginal(e store.Entry) (store.Entry, error) {
	if !e.Live(n.nowMs()) {
		return store.Entry{}, ErrNotFound
	}
	return e, nil
}

// askMasters asks the synced masters for key over HTTP: one of them,
// chosen at random so that both share the reads, then the other once the
// first has said it lacks the key, has failed, or has not answered within
// a sixteenth of the multicast timeout; it waits as long again for the
// last one asked, so a master that died and is not yet replaced costs
// that much, not a fetch timeout. found means a master returned the
// value; authoritative that every synced master answered it does not
// hold the key (each answers for what it holds, and a key stored with
// POST /local on a master reaches the other only with the masters' next
// digest check), or that one did and oneSuffices: no master says it may
// hold keys another lacks (mastersHoldAll). It runs within a flight
// (enterFlight): each request is one of the flight's, so Close waits for
// the one that lost the race, which the node's context ends.
func (n *Node) askMasters(key string, oneSuffices bool) (e store.Entry, found, authoritative bool) {
	ms := n.view.Load().syncedMasters(n.self)
	if len(ms) == 0 {
		return store.Entry{}, false, false
	}
	if len(ms) > 1 && rand.IntN(2) == 1 {
		ms[0], ms[1] = ms[1], ms[0] // ms is this call's own slice
	}
	type answer struct {
		e    store.Entry
		err  error
		from netip.Addr
	}
	answers := make(chan answer, len(ms)) // never blocks: a request that lost the race ends by itself
	asked := 0
	ask := func() {
		m := ms[asked]
		asked++
		n.flights.Add(1)
		go func() {
			defer n.flights.Done()
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.FetchTimeout)
			defer cancel()
			e, err := n.peers.Fetch(ctx, n.peer(m), key)
			if err == nil {
				err = n.clock.Observe(e.Version)
			}
			answers <- answer{e: e, err: err, from: m}
		}()
	}
	ask()
	wait := n.cfg.MulticastTimeout / 16
	timer := time.NewTimer(wait)
	defer timer.Stop()
	said := 0
	for pending := 1; pending > 0; {
		select {
		case <-timer.C:
			if asked == len(ms) {
				// A master keeps silent: no word from it, and the
				// caller asks the group instead.
				return store.Entry{}, false, false
			}
		case a := <-answers:
			pending--
			switch {
			case a.err == nil:
				return a.e, true, false
			case errors.Is(a.err, ErrNotFound):
				said++
				if oneSuffices {
					return store.Entry{}, false, true
				}
			default:
				n.log.Debug("ask master failed", "master", a.from.String(), "err", a.err)
			}
			if asked == len(ms) {
				continue
			}
		}
		ask()
		pending++
		timer.Reset(wait)
	}
	return store.Entry{}, false, said == len(ms)
}

// accept serves an entry fetched from another node, keeping a copy if
// this node is master or reads the key often enough.
func (n *Node) accept(key string, e store.Entry) (store.Entry, error) {
	if !n.isMaster() && !n.hot.read(key) {
		if !e.Live(n.nowMs()) {
			return store.Entry{}, ErrNotFound
		}
		return e, nil // not read often enough here to keep a copy
	}
	held, err := n.keep(key, e)
	if err != nil {
		return store.Entry{}, err
	}
	if !held.Live(n.nowMs()) {
		return store.Entry{}, ErrNotFound // deleted or expired meanwhile
	}
	return held, nil
}

// onWhoHas answers a whohas, on the membership loop: gotkey if this node
// holds the key, nokey if it is a synced master that does not and the
// asker is a member. An original node takes the first datagram after its
// whohas as the answer and cannot read nokey: it gets gotkey or nothing.
// The answer names the key by the asker's own token.
func (n *Node) onWhoHas(p mcast.Packet, m mcast.Message) {
	if m.Addr == n.self {
		return
	}
	key, err := store.KeyFromWire(m.Key)
	if err != nil {
		n.stats.BadDatagrams.Add(1)
		return
	}
	_, have := n.lookupLocal(key, false)
	o := &n.own
	_, member := o.members[m.Addr]
	if !member {
		n.sighted(p, m.Addr)
	}
	authoritative := o.pair.Has(n.self) && o.synced
	epoch := o.pair.Epoch
	members := len(o.members) + 1
	mastersSynced := len(o.pair.Masters) > 0
	for _, a := range o.pair.Masters {
		if mem := o.members[a]; a != n.self && (mem == nil || !mem.synced) {
			mastersSynced = false
		}
	}
	if !have && (!authoritative || !member) {
		return
	}
	if have && !authoritative && mastersSynced {
		// The synced masters answer every whohas for a key they hold; of
		// the other holders each answers with probability fanout/members,
		// so a key held everywhere draws about two or three answers, not
		// one per node. A copy the masters do not hold is always offered.
		if _, only, _ := n.cache.peekOnly(key); !only && rand.Float64()*float64(members) >= n.cfg.AnswerFanout {
			return
		}
	}
	to := netip.AddrPortFrom(m.Addr, m.Port)
	if !n.answerable(p, to) {
		return
	}
	if have {
		n.reply(to, mcast.Message{Kind: mcast.GotKey, Key: m.Key, Addr: n.self})
		return
	}
	n.reply(to, mcast.Message{Kind: mcast.NoKey, Key: m.Key, Addr: n.self, Epoch: epoch})
}

// onAnswer hands a gotkey or nokey to the query waiting for it, on the
// membership loop. A nokey counts only from a node this one holds as
// master.
func (n *Node) onAnswer(p mcast.Packet, m mcast.Message) {
	if m.Addr != p.From.Addr() {
		n.stats.Refused.Add(1)
		return
	}
	n.stats.Answers.Add(1)
	key, err := store.KeyFromWire(m.Key)
	if err != nil {
		return
	}
	q := n.queries.get(key)
	isMaster := n.own.pair.Has(m.Addr)
	if q == nil {
		return // late: the query has its answer
	}
	ch := q.holders
	if m.Kind == mcast.NoKey {
		if !isMaster {
			return
		}
		ch = q.nokey
	}
	select {
	case ch <- m.Addr:
	default:
	}
}
