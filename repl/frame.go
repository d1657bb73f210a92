package repl

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/diststore/diststore/store"
)

// Frame types. ONLY APPEND TO THIS LIST: a peer that reads a type it does
// not know ends the stream.
const (
	frameWrites byte = 1 // client → server: a batch of writes
	frameAcks   byte = 2 // server → client: the results of writes, by sequence number
)

// Limits of the wire format, checked before anything is decoded.
const (
	// MaxFrame is the largest frame, in bytes after its length field.
	MaxFrame = 1<<20 + 64<<10
	// MaxBatch is the most writes or acks in one frame.
	MaxBatch = 1024
	// MaxStreamValue is the largest value a stream carries; a larger
	// write goes by a request of its own (the caller's choice).
	MaxStreamValue = 64 << 10
	// maxAckMsg bounds the reason an ack carries.
	maxAckMsg = 256
	macLen    = sha256.Size
	// writeHeader is a write without its key and value: seq, epoch,
	// clock, node, flags, expires, key length, value length.
	writeHeader = 8 + 8 + 8 + 4 + 1 + 8 + 2 + 4
	// ackHeader is an ack without its reason: seq, code, clock, node,
	// reason length.
	ackHeader = 8 + 1 + 8 + 4 + 2

	flagDeleted = 1 << 0
)

// ErrFrame: a frame that breaks the wire format (too long, cut short, an
// unknown type, a bad key or value, or a MAC that does not verify). The
// stream that carried it is ended.
var ErrFrame = errors.New("bad replication frame")

// Write is one write a stream carries: a versioned entry for a master.
type Write struct {
	Key   string
	Entry store.Entry
	// Epoch is the writer's master epoch (0: unknown), as in a forwarded
	// write over HTTP.
	Epoch uint64
}

// size is what w takes in a frame.
func (w Write) size() int { return writeHeader + len(w.Key) + len(w.Entry.Value) }

// Code is how a master answered one write.
type Code uint8

// Codes of an ack. ONLY APPEND TO THIS LIST.
const (
	CodeOK        Code = 0 // stored; Held is the version the master holds now
	CodeNotMaster Code = 1 // refused: not a master, and its view is as new as the writer's
	CodeRefused   Code = 2 // refused for any other reason, said in Msg
	CodePrecond   Code = 3 // refused: a condition on the key does not hold
)

// Result is a master's answer to one write.
type Result struct {
	Code Code
	Held store.Version // with CodeOK
	Msg  string        // why, with a refusal; at most 256 bytes
}

// ack is a Result with the sequence number of its write.
type ack struct {
	seq uint64
	res Result
}

// frameWriter writes frames to one direction of a stream, each followed by
// its MAC when the stream is keyed.
type frameWriter struct {
	w     *bufio.Writer
	mac   hash.Hash // nil: an open stream
	index uint64    // frames written so far
	buf   []byte
}

func newFrameWriter(w io.Writer, key []byte) *frameWriter {
	fw := &frameWriter{w: bufio.NewWriterSize(w, 64<<10)}
	if key != nil {
		fw.mac = hmac.New(sha256.New, key)
	}
	return fw
}

// write writes one frame of type typ whose payload is body, and flushes.
func (fw *frameWriter) write(typ byte, body []byte) error {
	n := 1 + len(body)
	if fw.mac != nil {
		n += macLen
	}
	if n > MaxFrame {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrFrame, n, MaxFrame)
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(n))
	hdr[4] = typ
	_, _ = fw.w.Write(hdr[:])
	_, _ = fw.w.Write(body)
	if fw.mac != nil {
		_, _ = fw.w.Write(frameMAC(fw.mac, fw.index, typ, body))
	}
	fw.index++
	return fw.w.Flush()
}

// frameMAC is the MAC of the index-th frame of a direction.
func frameMAC(m hash.Hash, index uint64, typ byte, body []byte) []byte {
	m.Reset()
	var b [9]byte
	binary.BigEndian.PutUint64(b[:8], index)
	b[8] = typ
	m.Write(b[:])
	m.Write(body)
	return m.Sum(nil)
}

// frameReader reads the frames of one direction of a stream.
type frameReader struct {
	r     *bufio.Reader
	mac   hash.Hash
	index uint64
	buf   []byte
}

func newFrameReader(r *bufio.Reader, key []byte) *frameReader {
	fr := &frameReader{r: r}
	if key != nil {
		fr.mac = hmac.New(sha256.New, key)
	}
	return fr
}

// read returns the next frame's type and payload, its MAC checked. The
// payload is valid until the next read.
func (fr *frameReader) read() (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	min := 1
	if fr.mac != nil {
		min += macLen
	}
	if n < min || n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	b := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	typ, body := b[0], b[1:]
	if fr.mac != nil {
		body, sum := body[:len(body)-macLen], body[len(body)-macLen:]
		if !hmac.Equal(sum, frameMAC(fr.mac, fr.index, typ, body)) {
			return 0, nil, fmt.Errorf("%w: frame %d does not verify", ErrFrame, fr.index)
		}
		fr.index++
		return typ, body, nil
	}
	fr.index++
	return typ, body, nil
}

// appendWrites encodes a batch of writes, numbered from seq, into a
// frame's payload.
func appendWrites(b []byte, seq uint64, ws []Write) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(ws)))
	for i, w := range ws {
		e := w.Entry
		b = binary.BigEndian.AppendUint64(b, seq+uint64(i))
		b = binary.BigEndian.AppendUint64(b, w.Epoch)
		b = binary.BigEndian.AppendUint64(b, e.Version.Clock)
		b = binary.BigEndian.AppendUint32(b, e.Version.Node)
		var flags byte
		value := e.Value
		expires := e.Expires
		if e.Deleted {
			flags |= flagDeleted
			value, expires = nil, 0
		}
		b = append(b, flags)
		b = binary.BigEndian.AppendUint64(b, uint64(expires))
		b = binary.BigEndian.AppendUint16(b, uint16(len(w.Key)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
		b = append(b, w.Key...)
		b = append(b, value...)
	}
	return b
}

// seqWrite is a decoded write with its sequence number.
type seqWrite struct {
	seq uint64
	w   Write
}

// decodeWrites decodes a writes frame's payload. Values are bounded by
// MaxStreamValue and copied out of b. Keys and versions are not checked
// here: a master refuses a bad one as a write, not as a frame.
func decodeWrites(b []byte) ([]seqWrite, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: writes frame of %d bytes", ErrFrame, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n == 0 || n > MaxBatch {
		return nil, fmt.Errorf("%w: %d writes in a frame", ErrFrame, n)
	}
	out := make([]seqWrite, 0, n)
	for i := 0; i < n; i++ {
		if len(b) < writeHeader {
			return nil, fmt.Errorf("%w: write %d cut short", ErrFrame, i)
		}
		var sw seqWrite
		sw.seq = binary.BigEndian.Uint64(b[0:])
		sw.w.Epoch = binary.BigEndian.Uint64(b[8:])
		sw.w.Entry.Version = store.Version{Clock: binary.BigEndian.Uint64(b[16:]), Node: binary.BigEndian.Uint32(b[24:])}
		flags := b[28]
		sw.w.Entry.Expires = int64(binary.BigEndian.Uint64(b[29:]))
		kl := int(binary.BigEndian.Uint16(b[37:]))
		vl := int(binary.BigEndian.Uint32(b[39:]))
		b = b[writeHeader:]
		switch {
		case flags&^flagDeleted != 0:
			return nil, fmt.Errorf("%w: write %d: unknown flags %#x", ErrFrame, i, flags)
		case vl > MaxStreamValue:
			return nil, fmt.Errorf("%w: write %d: value of %d bytes, at most %d", ErrFrame, i, vl, MaxStreamValue)
		case len(b) < kl+vl:
			return nil, fmt.Errorf("%w: write %d cut short", ErrFrame, i)
		case sw.w.Entry.Expires < 0:
			return nil, fmt.Errorf("%w: write %d: negative expiry", ErrFrame, i)
		}
		// The key and the version are the master's to judge, write by
		// write (a refusal, not the end of the stream).
		sw.w.Key = string(b[:kl])
		if flags&flagDeleted != 0 {
			if vl != 0 || sw.w.Entry.Expires != 0 {
				return nil, fmt.Errorf("%w: write %d: a delete with a value or an expiry", ErrFrame, i)
			}
			sw.w.Entry.Deleted = true
		} else {
			sw.w.Entry.Value = append(make([]byte, 0, vl), b[kl:kl+vl]...)
		}
		b = b[kl+vl:]
		out = append(out, sw)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last write", ErrFrame, len(b))
	}
	return out, nil
}

// appendAcks encodes a batch of acks into a frame's payload.
func appendAcks(b []byte, acks []ack) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(acks)))
	for _, a := range acks {
		msg := a.res.Msg
		if len(msg) > maxAckMsg {
			msg = msg[:maxAckMsg]
		}
		b = binary.BigEndian.AppendUint64(b, a.seq)
		b = append(b, byte(a.res.Code))
		b = binary.BigEndian.AppendUint64(b, a.res.Held.Clock)
		b = binary.BigEndian.AppendUint32(b, a.res.Held.Node)
		b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// decodeAcks decodes an acks frame's payload.
func decodeAcks(b []byte) ([]ack, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: acks frame of %d bytes", ErrFrame, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n == 0 || n > MaxBatch {
		return nil, fmt.Errorf("%w: %d acks in a frame", ErrFrame, n)
	}
	out := make([]ack, 0, n)
	for i := 0; i < n; i++ {
		if len(b) < ackHeader {
			return nil, fmt.Errorf("%w: ack %d cut short", ErrFrame, i)
		}
		var a ack
		a.seq = binary.BigEndian.Uint64(b)
		a.res.Code = Code(b[8])
		a.res.Held = store.Version{Clock: binary.BigEndian.Uint64(b[9:]), Node: binary.BigEndian.Uint32(b[17:])}
		ml := int(binary.BigEndian.Uint16(b[21:]))
		b = b[ackHeader:]
		switch {
		case a.res.Code > CodePrecond:
			return nil, fmt.Errorf("%w: ack %d: unknown code %d", ErrFrame, i, a.res.Code)
		case ml > maxAckMsg || len(b) < ml:
			return nil, fmt.Errorf("%w: ack %d: reason of %d bytes", ErrFrame, i, ml)
		case a.res.Code == CodeOK && a.res.Held.IsZero():
			return nil, fmt.Errorf("%w: ack %d: stored without a version", ErrFrame, i)
		}
		a.res.Msg = string(b[:ml])
		b = b[ml:]
		out = append(out, a)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last ack", ErrFrame, len(b))
	}
	return out, nil
}
