package election

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ips(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, ip(s))
	}
	return out
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		keep    []netip.Addr
		want    []netip.Addr
	}{
		{"no members", nil, nil, ips()},
		{"one node is its own master", []Member{{ip("127.0.2.5"), 0}}, nil, ips("127.0.2.5")},
		{"most keys win", []Member{{ip("127.0.2.1"), 3}, {ip("127.0.2.2"), 9}, {ip("127.0.2.3"), 7}}, nil,
			ips("127.0.2.2", "127.0.2.3")},
		{"ties go to the lowest address, numerically", []Member{{ip("127.0.2.10"), 0}, {ip("127.0.2.9"), 0}, {ip("127.0.2.100"), 0}}, nil,
			ips("127.0.2.9", "127.0.2.10")},
		{"sticky: kept masters stay whatever their counts", []Member{{ip("127.0.2.1"), 0}, {ip("127.0.2.2"), 50}, {ip("127.0.2.3"), 99}}, ips("127.0.2.1"),
			ips("127.0.2.1", "127.0.2.3")},
		{"a kept master that is gone is not kept", []Member{{ip("127.0.2.2"), 1}, {ip("127.0.2.3"), 2}, {ip("127.0.2.4"), 0}}, ips("127.0.2.1", "127.0.2.2"),
			ips("127.0.2.2", "127.0.2.3")},
		{"duplicates in keep count once", []Member{{ip("127.0.2.1"), 0}, {ip("127.0.2.2"), 0}, {ip("127.0.2.3"), 5}}, ips("127.0.2.1", "127.0.2.1"),
			ips("127.0.2.1", "127.0.2.3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Choose(tt.members, tt.keep))
		})
	}
}

func TestBetter(t *testing.T) {
	tests := []struct {
		name string
		p, q Pair
		want bool
	}{
		{"higher epoch wins", Pair{2, ips("127.0.2.9")}, Pair{1, ips("127.0.2.1", "127.0.2.2")}, true},
		{"lower epoch loses", Pair{1, ips("127.0.2.1", "127.0.2.2")}, Pair{2, ips("127.0.2.9")}, false},
		{"equal epoch: lower addresses win", Pair{3, ips("127.0.2.1", "127.0.2.5")}, Pair{3, ips("127.0.2.1", "127.0.2.6")}, true},
		{"equal epoch: numeric, not textual", Pair{3, ips("127.0.2.9")}, Pair{3, ips("127.0.2.10")}, true},
		{"equal epoch: two seats beat one", Pair{3, ips("127.0.2.1", "127.0.2.2")}, Pair{3, ips("127.0.2.1")}, true},
		{"same pair is not better", Pair{3, ips("127.0.2.1", "127.0.2.2")}, Pair{3, ips("127.0.2.1", "127.0.2.2")}, false},
		{"anything beats nothing", Pair{1, ips("127.0.2.7")}, Pair{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Better(tt.p, tt.q))
		})
	}
}

func TestDecide(t *testing.T) {
	three := []Member{{ip("127.0.2.1"), 4}, {ip("127.0.2.2"), 4}, {ip("127.0.2.3"), 1}}
	tests := []struct {
		name    string
		self    string
		members []Member
		current Pair
		want    Pair
		propose bool
	}{
		{"bootstrap: lowest address proposes", "127.0.2.1", three, Pair{}, Pair{1, ips("127.0.2.1", "127.0.2.2")}, true},
		{"bootstrap: others wait", "127.0.2.2", three, Pair{}, Pair{}, false},
		{"settled: nothing to do", "127.0.2.1", three, Pair{4, ips("127.0.2.1", "127.0.2.2")}, Pair{}, false},
		{"lost master: the survivor proposes", "127.0.2.2", three[1:], Pair{4, ips("127.0.2.1", "127.0.2.2")},
			Pair{5, ips("127.0.2.2", "127.0.2.3")}, true},
		{"lost master: a non-master waits for the survivor", "127.0.2.3", three[1:], Pair{4, ips("127.0.2.1", "127.0.2.2")}, Pair{}, false},
		{"both lost: lowest live address proposes", "127.0.2.3", []Member{{ip("127.0.2.3"), 0}, {ip("127.0.2.4"), 9}},
			Pair{4, ips("127.0.2.1", "127.0.2.2")}, Pair{5, ips("127.0.2.3", "127.0.2.4")}, true},
		{"second node joins: the lone master fills the seat", "127.0.2.2", three, Pair{1, ips("127.0.2.2")},
			Pair{2, ips("127.0.2.1", "127.0.2.2")}, true},
		{"alone: own master", "127.0.2.7", []Member{{ip("127.0.2.7"), 0}}, Pair{}, Pair{1, ips("127.0.2.7")}, true},
		{"partner left, alone again", "127.0.2.7", []Member{{ip("127.0.2.7"), 0}}, Pair{2, ips("127.0.2.6", "127.0.2.7")},
			Pair{3, ips("127.0.2.7")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Decide(ip(tt.self), tt.members, tt.current)
			assert.Equal(t, tt.propose, ok)
			if tt.propose {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestReplace(t *testing.T) {
	members := []Member{{ip("127.0.2.1"), 4}, {ip("127.0.2.2"), 4}, {ip("127.0.2.3"), 1}, {ip("127.0.2.4"), 2}}
	got := Replace(members, Pair{7, ips("127.0.2.1", "127.0.2.2")}, ip("127.0.2.1"))
	assert.Equal(t, Pair{8, ips("127.0.2.2", "127.0.2.4")}, got)
}

// TestConvergence delivers the same proposals to many nodes in random
// orders: every node must end on the same pair.
func TestConvergence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var proposals []Pair
		for i := 0; i < 1+rng.IntN(6); i++ {
			a := netip.AddrFrom4([4]byte{127, 0, 2, byte(1 + rng.IntN(20))})
			b := netip.AddrFrom4([4]byte{127, 0, 2, byte(1 + rng.IntN(20))})
			p := Pair{Epoch: uint64(rng.IntN(4)), Masters: Choose([]Member{{a, 0}, {b, 0}}, nil)}
			proposals = append(proposals, p)
		}
		var first Pair
		for node := 0; node < 10; node++ {
			var held Pair
			for _, i := range rng.Perm(len(proposals)) {
				if Better(proposals[i], held) {
					held = proposals[i]
				}
			}
			if node == 0 {
				first = held
			}
			assert.True(t, first.Equal(held), "round %d: node %d holds %v, node 0 holds %v", round, node, held, first)
		}
	}
}

func TestNextEpoch_Saturates(t *testing.T) {
	assert.Equal(t, uint64(1), NextEpoch(0))
	assert.Equal(t, uint64(MaxEpoch), NextEpoch(MaxEpoch-1))
	assert.Equal(t, uint64(MaxEpoch), NextEpoch(MaxEpoch))
	assert.Equal(t, uint64(MaxEpoch), NextEpoch(math.MaxUint64), "no wrap to 0")
	members := []Member{{Addr: netip.MustParseAddr("127.0.2.1")}, {Addr: netip.MustParseAddr("127.0.2.2")}}
	p := Replace(members, Pair{Epoch: math.MaxUint64, Masters: []netip.Addr{members[0].Addr, members[1].Addr}}, members[1].Addr)
	assert.Equal(t, uint64(MaxEpoch), p.Epoch)
}
