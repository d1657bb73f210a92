package mcast

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	ip1 = netip.MustParseAddr("127.0.2.1")
	ip2 = netip.MustParseAddr("127.0.2.2")
	ip3 = netip.MustParseAddr("127.0.2.3")
)

// roundTrips holds one valid message of every kind with its wire form.
var roundTrips = []struct {
	name string
	msg  Message
	wire string
}{
	{"WhoHas", Message{Kind: WhoHas, Key: "user/42", Addr: ip1, Port: 4983}, "whohas user/42 127.0.2.1 4983"},
	{"WhoHas/LongUnicodeKey", Message{Kind: WhoHas, Key: strings.Repeat("é", MaxKeyLen/2), Addr: ip1, Port: 65535},
		"whohas " + strings.Repeat("é", MaxKeyLen/2) + " 127.0.2.1 65535"},
	{"GotKey", Message{Kind: GotKey, Key: "k", Addr: ip2}, "gotkey k 127.0.2.2"},
	{"KeyCount/Ask", Message{Kind: KeyCount, Addr: ip1, N: 50000}, "keycount 127.0.2.1 50000"},
	{"KeyCount/Answer", Message{Kind: KeyCount, Addr: ip2, N: 1<<64 - 1}, "keycount 127.0.2.2 18446744073709551615"},
	{"MasterLost", Message{Kind: MasterLost, Addr: ip1, Master: ip2}, "masterlost 127.0.2.1 127.0.2.2"},
	{"Heartbeat/NoMasters", Message{Kind: Heartbeat, Addr: ip1, N: 7, Epoch: 3}, "hb 1 127.0.2.1 7 3 - - 0"},
	{"Heartbeat/OneMaster", Message{Kind: Heartbeat, Addr: ip1, N: 0, Epoch: 1, Masters: []netip.Addr{ip2}, Flags: FlagLeaving},
		"hb 1 127.0.2.1 0 1 127.0.2.2 - 2"},
	{"Heartbeat/TwoMasters", Message{Kind: Heartbeat, Addr: ip3, N: 10, Epoch: 9, Masters: []netip.Addr{ip1, ip2}, Flags: FlagSynced | 0xf0},
		"hb 1 127.0.2.3 10 9 127.0.2.1 127.0.2.2 f1"},
	{"NoKey", Message{Kind: NoKey, Key: "missing", Addr: ip2, Epoch: 12}, "nokey 1 missing 127.0.2.2 12"},
	{"Bye", Message{Kind: Bye, Addr: ip3}, "bye 1 127.0.2.3"},
	{"Invalidate", Message{Kind: Invalidate, Key: "k", Addr: ip3, Version: Stamp{Clock: 0x1a2b, Node: 0x7f000203}},
		"inval 1 k 127.0.2.3 1a2b-7f000203 0"},
	{"Invalidate/Deleted", Message{Kind: Invalidate, Key: "k/é", Addr: ip3, Version: Stamp{Clock: 1, Node: 0}, Flags: FlagDeleted},
		"inval 1 k/é 127.0.2.3 1-0 4"},
	{"Members/One", Message{Kind: Members, Addr: ip1, Listed: []netip.AddrPort{netip.MustParseAddrPort("127.0.2.2:4984")}},
		"members 1 127.0.2.1 127.0.2.2:4984"},
	{"Members/Max", Message{Kind: Members, Addr: ip1, Listed: maxListed()}, "members 1 127.0.2.1 " + maxListedWire()},
}

// maxListed is the longest Members list, of the longest addresses.
func maxListed() []netip.AddrPort {
	out := make([]netip.AddrPort, MaxListed)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, byte(200 + i)}), 65535)
	}
	return out
}

func maxListedWire() string {
	var toks []string
	for _, a := range maxListed() {
		toks = append(toks, a.String())
	}
	return strings.Join(toks, " ")
}

func TestMembers_FitsSealed(t *testing.T) {
	b, err := Message{Kind: Members, Addr: netip.MustParseAddr("255.255.255.255"), Listed: maxListed()}.Encode()
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), MaxDatagram-SealOverhead, "the longest Members message fits in a sealed datagram")
}

func TestMessage_RoundTrip(t *testing.T) {
	for _, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.msg.Encode()
			require.NoError(t, err)
			assert.Equal(t, tc.wire, string(b))
			for _, suffix := range []string{"", "\n", "\r\n"} {
				got, err := Decode([]byte(tc.wire + suffix))
				require.NoError(t, err, "suffix %q", suffix)
				assert.Equal(t, tc.msg, got, "suffix %q", suffix)
			}
		})
	}
}

func TestDecode_Errors(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLen+1)
	tests := []struct {
		name string
		wire string
		want error
	}{
		{"Empty", "", ErrUnknownKind},
		{"UnknownToken", "hello 127.0.2.1", ErrUnknownKind},
		{"UpperCaseKind", "WHOHAS k 127.0.2.1 1", ErrUnknownKind},
		{"LeadingSpace", " whohas k 127.0.2.1 1", ErrUnknownKind},
		{"TooLarge", "whohas " + strings.Repeat("k", MaxDatagram), ErrTooLarge},

		{"WhoHas/FewFields", "whohas k 127.0.2.1", ErrMalformed},
		{"WhoHas/ManyFields", "whohas k 127.0.2.1 1 2", ErrMalformed},
		{"WhoHas/DoubleSpace", "whohas k  127.0.2.1 1", ErrMalformed},
		{"WhoHas/TrailingSpace", "whohas k 127.0.2.1 1 ", ErrMalformed},
		{"WhoHas/Port0", "whohas k 127.0.2.1 0", ErrMalformed},
		{"WhoHas/Port65536", "whohas k 127.0.2.1 65536", ErrMalformed},
		{"WhoHas/NegativePort", "whohas k 127.0.2.1 -1", ErrMalformed},
		{"WhoHas/IPv6", "whohas k ::1 1", ErrMalformed},
		{"WhoHas/MappedIPv4", "whohas k ::ffff:127.0.2.1 1", ErrMalformed},
		{"WhoHas/Hostname", "whohas k localhost 1", ErrMalformed},
		{"WhoHas/KeyTooLong", "whohas " + long + " 127.0.2.1 1", ErrMalformed},
		{"WhoHas/KeyInvalidUTF8", "whohas \xff 127.0.2.1 1", ErrMalformed},
		{"WhoHas/KeyTab", "whohas a\tb 127.0.2.1 1", ErrMalformed},
		{"WhoHas/KeyControl", "whohas a\x00b 127.0.2.1 1", ErrMalformed},
		{"WhoHas/KeyNBSP", "whohas a\u00a0b 127.0.2.1 1", ErrMalformed},
		{"WhoHas/TwoNewlines", "whohas k 127.0.2.1 1\n\n", ErrMalformed},
		{"WhoHas/BareCR", "whohas k 127.0.2.1 1\r", ErrMalformed},
		{"GotKey/FewFields", "gotkey k", ErrMalformed},
		{"GotKey/BadIP", "gotkey k 127.0.2.256", ErrMalformed},
		{"GotKey/EmptyKey", "gotkey  127.0.2.1", ErrMalformed},
		{"KeyCount/BadNumber", "keycount 127.0.2.1 x", ErrMalformed},
		{"KeyCount/Overflow", "keycount 127.0.2.1 18446744073709551616", ErrMalformed},
		{"KeyCount/PlusSign", "keycount 127.0.2.1 +5", ErrMalformed},
		{"KeyCount/Hex", "keycount 127.0.2.1 0x5", ErrMalformed},
		{"MasterLost/FewFields", "masterlost 127.0.2.1", ErrMalformed},
		{"MasterLost/BadMaster", "masterlost 127.0.2.1 127.0.2", ErrMalformed},
		{"Heartbeat/NoVersion", "hb", ErrMalformed},
		{"Heartbeat/Version2", "hb 2 127.0.2.1 7 3 - - 0 extra", ErrUnknownKind},
		{"Heartbeat/Version01", "hb 01 127.0.2.1 7 3 - - 0", ErrUnknownKind},
		{"Heartbeat/FewFields", "hb 1 127.0.2.1 7 3 - -", ErrMalformed},
		{"Heartbeat/SecondMasterOnly", "hb 1 127.0.2.1 7 3 - 127.0.2.2 0", ErrMalformed},
		{"Heartbeat/BadMaster", "hb 1 127.0.2.1 7 3 127.0.2.x - 0", ErrMalformed},
		{"Heartbeat/FlagsTooBig", "hb 1 127.0.2.1 7 3 - - 100", ErrMalformed},
		{"Heartbeat/FlagsNotHex", "hb 1 127.0.2.1 7 3 - - g", ErrMalformed},
		{"Heartbeat/BadEpoch", "hb 1 127.0.2.1 7 -3 - - 0", ErrMalformed},
		{"NoKey/Version2", "nokey 2 k 127.0.2.1 1", ErrUnknownKind},
		{"NoKey/FewFields", "nokey 1 k 127.0.2.1", ErrMalformed},
		{"NoKey/BadEpoch", "nokey 1 k 127.0.2.1 e", ErrMalformed},
		{"Bye/Version2", "bye 2", ErrUnknownKind},
		{"Bye/NoAddr", "bye 1", ErrMalformed},
		{"Bye/BadAddr", "bye 1 0", ErrMalformed},
		{"Invalidate/Version2", "inval 2 k 127.0.2.1 1-1 0", ErrUnknownKind},
		{"Invalidate/NoVersion", "inval 1 k 127.0.2.1 0", ErrMalformed},
		{"Invalidate/BadStamp", "inval 1 k 127.0.2.1 1_1 0", ErrMalformed},
		{"Invalidate/StampOverflow", "inval 1 k 127.0.2.1 1-100000000 0", ErrMalformed},
		{"Invalidate/BadFlags", "inval 1 k 127.0.2.1 1-1 zz", ErrMalformed},
		{"Members/NoneListed", "members 1 127.0.2.1", ErrMalformed},
		{"Members/TooMany", "members 1 127.0.2.1 " + maxListedWire() + " 127.0.2.9:1", ErrMalformed},
		{"Members/NoPort", "members 1 127.0.2.1 127.0.2.2", ErrMalformed},
		{"Members/Port0", "members 1 127.0.2.1 127.0.2.2:0", ErrMalformed},
		{"Members/IPv6", "members 1 127.0.2.1 [::1]:4984", ErrMalformed},
		{"Members/Version2", "members 2 127.0.2.1 127.0.2.2:4984", ErrUnknownKind},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.wire))
			require.ErrorIs(t, err, tc.want)
			for _, other := range []error{ErrTooLarge, ErrMalformed, ErrUnknownKind} {
				if other != tc.want {
					assert.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

func TestDecode_MaxDatagramBoundary(t *testing.T) {
	// A datagram of exactly MaxDatagram bytes is decoded (and here
	// malformed, since no valid message is that long); one byte more is not.
	b := []byte("bye 1 " + strings.Repeat("1", MaxDatagram-len("bye 1 ")))
	_, err := Decode(b)
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = Decode(append(b, '1'))
	assert.ErrorIs(t, err, ErrTooLarge)
}

func TestMessage_Encode_Errors(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"ZeroKind", Message{Addr: ip1}, ErrUnknownKind},
		{"FutureKind", Message{Kind: 200, Addr: ip1}, ErrUnknownKind},
		{"WhoHas/NoKey", Message{Kind: WhoHas, Addr: ip1, Port: 1}, ErrMalformed},
		{"WhoHas/KeyWithSpace", Message{Kind: WhoHas, Key: "a b", Addr: ip1, Port: 1}, ErrMalformed},
		{"WhoHas/KeyTooLong", Message{Kind: WhoHas, Key: strings.Repeat("k", MaxKeyLen+1), Addr: ip1, Port: 1}, ErrMalformed},
		{"WhoHas/Port0", Message{Kind: WhoHas, Key: "k", Addr: ip1}, ErrMalformed},
		{"WhoHas/NoAddr", Message{Kind: WhoHas, Key: "k", Port: 1}, ErrMalformed},
		{"GotKey/IPv6", Message{Kind: GotKey, Key: "k", Addr: netip.IPv6Loopback()}, ErrMalformed},
		{"KeyCount/NoAddr", Message{Kind: KeyCount, N: 1}, ErrMalformed},
		{"MasterLost/NoMaster", Message{Kind: MasterLost, Addr: ip1}, ErrMalformed},
		{"Heartbeat/ThreeMasters", Message{Kind: Heartbeat, Addr: ip1, Masters: []netip.Addr{ip1, ip2, ip3}}, ErrMalformed},
		{"Heartbeat/InvalidMaster", Message{Kind: Heartbeat, Addr: ip1, Masters: []netip.Addr{{}}}, ErrMalformed},
		{"NoKey/BadKey", Message{Kind: NoKey, Key: "\n", Addr: ip1}, ErrMalformed},
		{"Bye/Mapped", Message{Kind: Bye, Addr: netip.AddrFrom16(ip1.As16())}, ErrMalformed},
		{"Members/Empty", Message{Kind: Members, Addr: ip1}, ErrMalformed},
		{"Members/TooMany", Message{Kind: Members, Addr: ip1, Listed: append(maxListed(), netip.MustParseAddrPort("1.2.3.4:5"))}, ErrMalformed},
		{"Members/Port0", Message{Kind: Members, Addr: ip1, Listed: []netip.AddrPort{netip.AddrPortFrom(ip2, 0)}}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.msg.Encode()
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, b)
		})
	}
}

func TestKind_String(t *testing.T) {
	assert.Equal(t, "whohas", WhoHas.String())
	assert.Equal(t, "hb", Heartbeat.String())
	assert.Equal(t, "Kind(0)", Kind(0).String())
	assert.Equal(t, "Kind(99)", Kind(99).String())
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to a datagram that decodes to the same Message.
func FuzzDecode(f *testing.F) {
	for _, tc := range roundTrips {
		f.Add([]byte(tc.wire))
		f.Add([]byte(tc.wire + "\r\n"))
	}
	for _, s := range []string{
		"", "whohas", "whohas k 127.0.2.1 0", "hb 2 x", "hb 1 127.0.2.1 1 1 - 127.0.2.2 0",
		"keycount 127.0.2.1 -1", "gotkey \xff 127.0.2.1", "bye 1 ::1", "nokey 1 k 1.2.3.4 99999999999999999999",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKind) {
				t.Fatalf("Decode(%q) error %v matches no sentinel", b, err)
			}
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Decode(%q) = %+v, which does not encode: %v", b, m, err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", enc, err)
		}
		assert.Equal(t, m, m2)
	})
}
