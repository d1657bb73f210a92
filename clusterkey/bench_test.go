package clusterkey

import (
	"testing"
)

// BenchmarkSealOpen is the CPU a cluster key costs per datagram: one
// heartbeat-sized datagram sealed by one node and opened by another.
func BenchmarkSealOpen(b *testing.B) {
	ad := []byte("239.255.41.83:4983")
	msg := []byte("hb 1 127.0.2.1 100000 7 127.0.2.1 127.0.2.2 1")
	sender, err := New([][KeySize]byte{key(1)}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	receiver, err := New([][KeySize]byte{key(1)}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := receiver.Open(sender.Seal(msg, ad), ad); err != nil {
			b.Fatal(err)
		}
	}
}
