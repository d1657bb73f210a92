package forge

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/mcast"
)

var (
	a1 = netip.MustParseAddr("127.0.2.1")
	a2 = netip.MustParseAddr("127.0.2.2")
	a9 = netip.MustParseAddr("127.0.2.9")
)

// TestDatagrams_DecodeAsForged checks that what the codec can express is
// built by it: each datagram decodes to the message the forger meant.
func TestDatagrams_DecodeAsForged(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want mcast.Message
	}{
		{"hb at the top epoch", Heartbeat(a9, 1<<30, ^uint64(0), []netip.Addr{a9}, mcast.FlagSynced),
			mcast.Message{Kind: mcast.Heartbeat, Addr: a9, N: 1 << 30, Epoch: ^uint64(0), Masters: []netip.Addr{a9}, Flags: mcast.FlagSynced}},
		{"hb with a pair", Heartbeat(a9, 0, 7, []netip.Addr{a1, a2}, 0),
			mcast.Message{Kind: mcast.Heartbeat, Addr: a9, Epoch: 7, Masters: []netip.Addr{a1, a2}}},
		{"bye", Bye(a1), mcast.Message{Kind: mcast.Bye, Addr: a1}},
		{"masterlost", MasterLost(a9, a1), mcast.Message{Kind: mcast.MasterLost, Addr: a9, Master: a1}},
		{"inval at the top clock", Invalidate("k", a9, MaxClock, 0, mcast.FlagDeleted),
			mcast.Message{Kind: mcast.Invalidate, Key: "k", Addr: a9, Version: mcast.Stamp{Clock: MaxClock}, Flags: mcast.FlagDeleted}},
		{"whohas for a third party", WhoHas("k", netip.AddrPortFrom(a1, 4000)),
			mcast.Message{Kind: mcast.WhoHas, Key: "k", Addr: a1, Port: 4000}},
		{"keycount for a third party", KeyCount(netip.AddrPortFrom(a1, 4000)),
			mcast.Message{Kind: mcast.KeyCount, Addr: a1, N: 4000}},
		{"gotkey", GotKey("k", a9), mcast.Message{Kind: mcast.GotKey, Key: "k", Addr: a9}},
		{"nokey", NoKey("k", a1, 3), mcast.Message{Kind: mcast.NoKey, Key: "k", Addr: a1, Epoch: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mcast.Decode(tt.b)
			require.NoError(t, err, "%q", tt.b)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestDatagrams_RawWhereEncodeRefuses checks that what the codec refuses is
// still written, as raw text.
func TestDatagrams_RawWhereEncodeRefuses(t *testing.T) {
	assert.Equal(t, "hb 1 127.0.2.9 0 1 127.0.2.1 127.0.2.2 127.0.2.9 0", string(Heartbeat(a9, 0, 1, []netip.Addr{a1, a2, a9}, 0)))
	assert.Equal(t, "whohas k 127.0.2.1 0", string(WhoHas("k", netip.AddrPortFrom(a1, 0))))
	assert.Equal(t, "gotkey a b 127.0.2.9", string(GotKey("a b", a9)))
	assert.Equal(t, "bye 1 -", string(Bye(netip.Addr{})))
}

func TestVersionAt(t *testing.T) {
	at := time.UnixMilli(0x1234)
	assert.Equal(t, "12340000-7f000209", VersionAt(at, 0x7f000209))
	assert.Equal(t, uint64(0x1234)<<16, ClockAt(at))
}

// TestConn_SendsFromTheAddressItIsTold sends from one socket to another on
// 127.0.0.1 and sees the source it was bound to.
func TestConn_SendsFromTheAddressItIsTold(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	rx, err := Listen(netip.AddrPortFrom(lo, 0), netip.AddrPort{})
	require.NoError(t, err)
	defer rx.Close()
	tx, err := Listen(netip.AddrPortFrom(lo, 0), netip.AddrPort{})
	require.NoError(t, err)
	defer tx.Close()
	assert.Equal(t, DefaultGroup, tx.Group())

	require.NoError(t, tx.SendTo(rx.LocalAddr(), Bye(a1)))
	got, err := rx.Collect(500*time.Millisecond, 2*time.Second)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, tx.LocalAddr(), got[0].From)
	assert.Equal(t, "bye 1 127.0.2.1", string(got[0].Data))
	require.NoError(t, tx.Close())
	require.NoError(t, tx.Close(), "a second Close")
}

// TestFakeNode_ServesTheForgedVersion reads a key from a FakeNode and sends
// it a forged write.
func TestFakeNode_ServesTheForgedVersion(t *testing.T) {
	f, err := ServeFake(netip.MustParseAddrPort("127.0.0.1:0"), []byte("poison"), MaxVersion)
	require.NoError(t, err)
	defer f.Close()
	hc := &http.Client{Timeout: 5 * time.Second}

	resp, err := hc.Get("http://" + f.Addr().String() + "/getlocal/k")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, MaxVersion, resp.Header.Get("X-Diststore-Version"))

	code, body, err := LocalWrite(context.Background(), hc, f.Addr(), "k", []byte("v"), "1-2", false)
	require.NoError(t, err)
	assert.Equal(t, 200, code, body)
	code, _, err = LocalWrite(context.Background(), hc, f.Addr(), "k", nil, "1-3", true)
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, 1, f.Hits("getlocal"))
	assert.Equal(t, 2, f.Hits("local"))
	require.NoError(t, f.Close())
}

// TestSniffer_LearnsPortsOfSealedNodes sniffs an in-memory network: a node
// whose datagrams do not decode (sealed) is known by their source; a
// heartbeat's source wins over that, and a later datagram that does not
// decode does not move it.
func TestSniffer_LearnsPortsOfSealedNodes(t *testing.T) {
	mem := mcast.NewMemNetwork()
	sealed, open := mem.Join(a1), mem.Join(a2)
	s := sniffOn(mem.Join(a9), nil)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	sealedDatagram := []byte("\x00ds\x01 not a message")
	require.NoError(t, sealed.Multicast(sealedDatagram))
	require.NoError(t, open.Multicast(Heartbeat(a2, 0, 7, []netip.Addr{a1, a2}, 0)))
	got, err := s.WaitPorts(ctx, a1, a2)
	require.NoError(t, err)
	assert.Equal(t, map[netip.Addr]netip.AddrPort{a1: sealed.LocalAddr(), a2: open.LocalAddr()}, got)
	assert.Equal(t, uint64(7), s.Epoch(a1, a2), "the epoch of the heartbeat that decoded")

	// Another socket of a2's that sends what does not decode (a forger on
	// a2's address) does not replace the port a2's heartbeat gave.
	other := mem.Join(a2)
	require.NoError(t, other.Multicast(sealedDatagram))
	require.NoError(t, open.Multicast(Bye(a2))) // a marker: once heard, so is the datagram before it
	require.Eventually(t, func() bool { return s.Heard(mcast.Bye) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2, s.Opaque())
	assert.Equal(t, open.LocalAddr().Port(), s.Ports()[a2])
}
