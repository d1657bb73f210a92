// Package election chooses a cluster's masters. It is pure: functions over
// a membership view that return a decision, with no I/O, goroutines or
// clocks, so every rule is table-tested.
//
// The rules:
//
//   - A cluster has min(2, members) masters. Candidates rank by most keys,
//     then by lowest address (compared numerically).
//   - Masters are sticky: a master stays master while it is a member, so
//     the pair does not flap as key counts change. Only a lost master is
//     replaced, and only a missing seat is filled.
//   - A decision is a Pair stamped with an epoch. A node adopts any pair
//     that is Better than the one it holds: a higher epoch, or at equal
//     epochs the lower list of addresses. Every node therefore converges
//     on the same pair whatever order proposals arrive in.
//   - To keep proposals few, one node proposes when a seat is empty: the
//     surviving master with the lowest address, or, when no master
//     survives, the live member with the lowest address. A node with direct
//     evidence that a master is gone (a failed write) may propose a
//     replacement itself with Replace.
package election

import (
	"net/netip"
	"slices"
)

// Seats is how many masters a cluster has when it has enough members.
const Seats = 2

// Member is one node of a membership view.
type Member struct {
	Addr netip.Addr
	Keys uint64
}

// Pair is a set of masters chosen at an epoch. Masters are sorted by
// address; Epoch 0 with no masters means "none chosen yet".
type Pair struct {
	Epoch   uint64
	Masters []netip.Addr
}

// Has reports whether a is one of p's masters.
func (p Pair) Has(a netip.Addr) bool { return slices.Contains(p.Masters, a) }

// Equal reports whether p and q are the same decision.
func (p Pair) Equal(q Pair) bool {
	return p.Epoch == q.Epoch && slices.Equal(p.Masters, q.Masters)
}

// Better reports whether p supersedes q: a higher epoch, or at an equal
// epoch a lower list of masters (compared address by address, a shorter
// list losing to a longer one that shares its prefix).
func Better(p, q Pair) bool {
	if p.Epoch != q.Epoch {
		return p.Epoch > q.Epoch
	}
	for i := 0; i < len(p.Masters) && i < len(q.Masters); i++ {
		if c := p.Masters[i].Compare(q.Masters[i]); c != 0 {
			return c < 0
		}
	}
	return len(p.Masters) > len(q.Masters)
}

// ranksBefore reports whether a is a better candidate than b.
func ranksBefore(a, b Member) bool {
	if a.Keys != b.Keys {
		return a.Keys > b.Keys
	}
	return a.Addr.Less(b.Addr)
}

// Choose returns the masters for members: those of keep that are still
// members, then the best-ranked others, up to min(Seats, len(members)),
// sorted by address.
func Choose(members []Member, keep []netip.Addr) []netip.Addr {
	want := min(Seats, len(members))
	chosen := make([]netip.Addr, 0, want)
	for _, a := range keep {
		if len(chosen) < want && isMember(members, a) && !slices.Contains(chosen, a) {
			chosen = append(chosen, a)
		}
	}
	ranked := slices.Clone(members)
	slices.SortFunc(ranked, func(a, b Member) int {
		switch {
		case ranksBefore(a, b):
			return -1
		case ranksBefore(b, a):
			return 1
		}
		return 0
	})
	for _, m := range ranked {
		if len(chosen) == want {
			break
		}
		if !slices.Contains(chosen, m.Addr) {
			chosen = append(chosen, m.Addr)
		}
	}
	slices.SortFunc(chosen, netip.Addr.Compare)
	return chosen
}

// Settled reports whether current needs no change for members: every
// master is a member and every seat is filled.
func Settled(members []Member, current Pair) bool {
	if len(current.Masters) != min(Seats, len(members)) {
		return false
	}
	for _, a := range current.Masters {
		if !isMember(members, a) {
			return false
		}
	}
	return true
}

// Proposer returns the node that should propose when current is not
// Settled: the surviving master with the lowest address, else the member
// with the lowest address. It returns the zero Addr for no members.
func Proposer(members []Member, current Pair) netip.Addr {
	for _, a := range current.Masters { // sorted: the first survivor is the lowest
		if isMember(members, a) {
			return a
		}
	}
	var low netip.Addr
	for _, m := range members {
		if !low.IsValid() || m.Addr.Less(low) {
			low = m.Addr
		}
	}
	return low
}

// Decide is what node self does with its view: when current is not
// Settled and self is the Proposer, it returns the next pair and true.
// members must include self.
func Decide(self netip.Addr, members []Member, current Pair) (Pair, bool) {
	if len(members) == 0 || Settled(members, current) || Proposer(members, current) != self {
		return Pair{}, false
	}
	return Pair{Epoch: NextEpoch(current.Epoch), Masters: Choose(members, current.Masters)}, true
}

// MaxEpoch is the highest epoch a pair may carry. No cluster elects that
// often; a pair above it is forged or broken, and nodes ignore it, so the
// epoch cannot be driven to where it would wrap or stop counting.
const MaxEpoch = 1 << 62

// NextEpoch is the epoch after e. It saturates at MaxEpoch instead of
// growing past it (or wrapping to 0, where every older pair would beat it).
func NextEpoch(e uint64) uint64 {
	if e >= MaxEpoch {
		return MaxEpoch
	}
	return e + 1
}

// Replace returns the pair that follows current once lost is known to be
// gone: the other masters stay and the empty seat goes to the best other
// member. It is what a node proposes when it failed to reach a master.
func Replace(members []Member, current Pair, lost netip.Addr) Pair {
	rest := slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return m.Addr == lost })
	return Pair{Epoch: NextEpoch(current.Epoch), Masters: Choose(rest, current.Masters)}
}

func isMember(members []Member, a netip.Addr) bool {
	return slices.ContainsFunc(members, func(m Member) bool { return m.Addr == a })
}
