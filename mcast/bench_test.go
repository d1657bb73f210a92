package mcast

import (
	"net/netip"
	"strings"
	"testing"
)

func BenchmarkEncode(b *testing.B) {
	m := Message{Kind: Heartbeat, Addr: netip.MustParseAddr("127.0.2.1"), N: 123456, Epoch: 42,
		Masters: []netip.Addr{netip.MustParseAddr("127.0.2.1"), netip.MustParseAddr("127.0.2.2")}, Flags: FlagSynced}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, wire := range []string{
		"whohas some/key-0001 127.0.2.7 40123",
		"hb 1 127.0.2.1 123456 42 127.0.2.1 127.0.2.2 1",
	} {
		b.Run(wire[:strings.IndexByte(wire, ' ')], func(b *testing.B) {
			data := []byte(wire)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
