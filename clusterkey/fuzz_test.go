package clusterkey

import (
	"testing"
	"time"
)

// FuzzOpen feeds the opener what a forger could send: it must never
// panic, and nothing but a datagram sealed with the key may open.
func FuzzOpen(f *testing.F) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ad := []byte("239.255.41.83:4983")
	sender, err := New([][KeySize]byte{key(1)}, Options{Now: clk.now})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("hb 1 127.0.2.1 0 1 - - 0"))
	f.Add(magic[:])
	f.Add(sender.Seal([]byte("whohas k 127.0.2.1 4000"), ad))
	f.Add(make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := New([][KeySize]byte{key(2), key(3)}, Options{Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := r.Open(b, ad); err == nil {
			t.Fatalf("a datagram not sealed with a key of the ring opened: %q", msg)
		} else if Reason(err) == "" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}

// FuzzParseKeys: any file either parses into 1 to MaxKeys keys or is
// refused with ErrBadKeyFile; it never panics.
func FuzzParseKeys(f *testing.F) {
	f.Add([]byte(b64(key(1)) + "\n"))
	f.Add([]byte("# c\n\n" + b64(key(1)) + "\n" + b64(key(2))))
	f.Add([]byte("not a key"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseKeys(b)
		if err != nil {
			if keys != nil {
				t.Fatal("keys with an error")
			}
			return
		}
		if len(keys) == 0 || len(keys) > MaxKeys {
			t.Fatalf("%d keys accepted", len(keys))
		}
	})
}
