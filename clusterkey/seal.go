package clusterkey

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"
)

// A sealed datagram is
//
//	magic     4 bytes  0x00 'd' 's' 0x01 (no plaintext message starts with 0x00)
//	timestamp 8 bytes  the sender's clock, Unix milliseconds, big endian
//	sender    8 bytes  random, chosen by the sending process at start
//	sequence  8 bytes  counts the sender's datagrams from 1, big endian
//	nonce    24 bytes  random
//	sealed    the message, XChaCha20-Poly1305, 16-byte tag
//
// The header (magic to sequence) and the caller's associated data (the
// cluster's group and port) are authenticated with the message. A receiver
// drops a datagram whose timestamp is outside its window, and remembers,
// for each sender, the highest sequence number seen and which of the
// replayWindow numbers below it were seen, so that a copy replayed inside
// the time window is dropped too.
const (
	headerLen = 4 + 8 + 8 + 8
	nonceLen  = 24
	tagLen    = 16
	// Overhead is what sealing adds to a datagram, in bytes.
	Overhead = headerLen + nonceLen + tagLen
)

var magic = [4]byte{0x00, 'd', 's', 0x01}

// OpenError is why a datagram did not open or a request's proof was
// refused; Reason gives its short label for the metrics.
type OpenError struct{ reason, msg string }

func (e *OpenError) Error() string { return e.msg }

// Why a datagram did not open, checked with errors.Is.
var (
	// ErrUnsealed: the datagram is not sealed (a node without the key, or
	// a forger).
	ErrUnsealed = &OpenError{"unsealed", "datagram not sealed"}
	// ErrBadSeal: sealed, but no key opens it, or it is cut short.
	ErrBadSeal = &OpenError{"bad_seal", "datagram opens with no cluster key"}
	// ErrStale: its timestamp is outside the window.
	ErrStale = &OpenError{"stale", "sealed datagram outside the time window"}
	// ErrReplay: this sender's sequence number was seen already, or is
	// too old to tell.
	ErrReplay = &OpenError{"replay", "sealed datagram seen already"}
)

// Seal returns msg sealed with the first key, ad bound as associated
// data.
func (r *Ring) Seal(msg, ad []byte) []byte {
	k := (*r.keys.Load())[0]
	out := make([]byte, headerLen+nonceLen, Overhead+len(msg))
	copy(out, magic[:])
	binary.BigEndian.PutUint64(out[4:], uint64(r.now().UnixMilli()))
	copy(out[12:], r.sender[:])
	binary.BigEndian.PutUint64(out[20:], r.seq.Add(1))
	nonce := out[headerLen : headerLen+nonceLen]
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	return k.aead.Seal(out, nonce, msg, associated(out[:headerLen], ad))
}

// associated is what a datagram's tag covers besides its message.
func associated(header, ad []byte) []byte {
	b := make([]byte, 0, len(header)+len(ad))
	return append(append(b, header...), ad...)
}

// Open checks b, a datagram sealed with ad, and returns its message. The
// error is one of ErrUnsealed, ErrBadSeal, ErrStale and ErrReplay.
func (r *Ring) Open(b, ad []byte) ([]byte, error) {
	if len(b) < len(magic) || [4]byte(b[:4]) != magic {
		return nil, ErrUnsealed
	}
	if len(b) < Overhead {
		return nil, ErrBadSeal
	}
	ms := int64(binary.BigEndian.Uint64(b[4:]))
	if !r.fresh(ms) {
		// Checked before the tag only to spare the work: a forged
		// timestamp that passes here still fails the tag.
		return nil, ErrStale
	}
	header, nonce, sealed := b[:headerLen], b[headerLen:headerLen+nonceLen], b[headerLen+nonceLen:]
	data := associated(header, ad)
	var msg []byte
	opened := false
	for _, k := range *r.keys.Load() {
		var err error
		if msg, err = k.aead.Open(nil, nonce, sealed, data); err == nil {
			opened = true
			break
		}
	}
	if !opened {
		return nil, ErrBadSeal
	}
	sender := [8]byte(b[12:20])
	seq := binary.BigEndian.Uint64(b[20:])
	r.mu.Lock()
	ok := r.replay.accept(sender, seq, r.now(), 2*r.window)
	r.mu.Unlock()
	if !ok {
		return nil, ErrReplay
	}
	return msg, nil
}

// Reason returns the metrics label of an Open error, "" for nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var oe *OpenError
	if errors.As(err, &oe) {
		return oe.reason
	}
	return "bad_seal"
}

// replayWindow is how many sequence numbers below a sender's highest are
// remembered. Datagrams of one sender arrive out of order only by a few
// (multicast and unicast take different paths), never by a thousand.
const replayWindow = 1024

// maxSenders bounds the senders remembered. Only a holder of the key can
// add one, and a sender is forgotten once its datagrams would be stale;
// a cluster of 4096 nodes restarting within two windows fills it, and
// then new senders are refused until old ones age out.
const maxSenders = 4096

// replayTable remembers what each sender sent lately.
type replayTable struct {
	senders map[[8]byte]*senderWindow
}

type senderWindow struct {
	highest  uint64                    // highest sequence number seen
	seen     [replayWindow / 64]uint64 // bit i: highest-i was seen
	lastSeen time.Time
}

// accept records seq from sender and reports whether it is new. A sender
// not heard from for forget is dropped from the table: every datagram it
// sent before then is stale by now.
func (t *replayTable) accept(sender [8]byte, seq uint64, now time.Time, forget time.Duration) bool {
	w, ok := t.senders[sender]
	if !ok {
		if len(t.senders) >= maxSenders {
			for id, o := range t.senders {
				if now.Sub(o.lastSeen) > forget {
					delete(t.senders, id)
				}
			}
			if len(t.senders) >= maxSenders {
				return false
			}
		}
		w = &senderWindow{}
		t.senders[sender] = w
		w.highest = seq
		w.seen[0] = 1
		w.lastSeen = now
		return true
	}
	w.lastSeen = now
	switch {
	case seq > w.highest:
		w.shift(seq - w.highest)
		w.highest = seq
		w.seen[0] |= 1
		return true
	case w.highest-seq >= replayWindow:
		return false
	default:
		d := w.highest - seq
		word, bit := d/64, uint64(1)<<(d%64)
		if w.seen[word]&bit != 0 {
			return false
		}
		w.seen[word] |= bit
		return true
	}
}

// shift moves the window up by n: bit i becomes bit i+n.
func (w *senderWindow) shift(n uint64) {
	if n >= replayWindow {
		w.seen = [replayWindow / 64]uint64{}
		return
	}
	words, bits := int(n/64), n%64
	for i := len(w.seen) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = w.seen[j] << bits
			if bits > 0 && j-1 >= 0 {
				v |= w.seen[j-1] >> (64 - bits)
			}
		}
		w.seen[i] = v
	}
}
