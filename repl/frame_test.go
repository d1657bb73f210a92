package repl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/store"
)

var v1 = store.Version{Clock: 0x18c2a0000001, Node: 0x7f000201}

func sampleWrites() []Write {
	return []Write{
		{Key: "a", Entry: store.Entry{Value: []byte("value"), Version: v1, Expires: 1700000000000}, Epoch: 7},
		{Key: "ключ/2", Entry: store.Entry{Value: []byte{}, Version: v1}, Epoch: 7},
		{Key: "gone", Entry: store.Entry{Deleted: true, Version: v1}},
	}
}

func TestFrame_WritesRoundTrip(t *testing.T) {
	ws := sampleWrites()
	got, err := decodeWrites(appendWrites(nil, 41, ws))
	require.NoError(t, err)
	require.Len(t, got, len(ws))
	for i, sw := range got {
		assert.Equal(t, uint64(41+i), sw.seq, "writes are numbered from the frame's first")
		assert.Equal(t, ws[i], sw.w)
	}
}

func TestFrame_AcksRoundTrip(t *testing.T) {
	acks := []ack{
		{1, Result{Code: CodeOK, Held: v1}},
		{9, Result{Code: CodeNotMaster, Msg: "not a synced master"}},
		{3, Result{Code: CodeRefused, Msg: strings.Repeat("x", maxAckMsg+50)}},
		{4, Result{Code: CodePrecond, Msg: "key exists"}},
	}
	got, err := decodeAcks(appendAcks(nil, acks))
	require.NoError(t, err)
	acks[2].res.Msg = acks[2].res.Msg[:maxAckMsg] // a reason is cut to its bound
	assert.Equal(t, acks, got)
}

// TestFrame_WritesRefused: every way a writes frame can break the format
// is an ErrFrame, found before anything is applied.
func TestFrame_WritesRefused(t *testing.T) {
	one := func(w Write) []byte { return appendWrites(nil, 1, []Write{w}) }
	good := one(sampleWrites()[0])
	tests := map[string][]byte{
		"empty":          {},
		"no writes":      {0, 0},
		"too many":       binary.BigEndian.AppendUint16(nil, MaxBatch+1),
		"cut short":      good[:len(good)-1],
		"trailing bytes": append(bytes.Clone(good), 0),
		"value too large": one(Write{Key: "k", Entry: store.Entry{
			Value: make([]byte, MaxStreamValue+1), Version: v1}}),
	}
	flags := bytes.Clone(good)
	flags[2+28] = 0x80
	tests["unknown flags"] = flags
	del := one(Write{Key: "k", Entry: store.Entry{Deleted: true, Version: v1}})
	binary.BigEndian.PutUint32(del[2+39:], 1)
	tests["a delete with a value"] = append(del, 'x')
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeWrites(b)
			assert.ErrorIs(t, err, ErrFrame)
		})
	}
}

func TestFrame_AcksRefused(t *testing.T) {
	good := appendAcks(nil, []ack{{1, Result{Code: CodeOK, Held: v1}}})
	code := bytes.Clone(good)
	code[2+8] = 9
	tests := map[string][]byte{
		"empty":                {},
		"no acks":              {0, 0},
		"cut short":            good[:len(good)-1],
		"trailing bytes":       append(bytes.Clone(good), 0),
		"unknown code":         code,
		"ok without a version": appendAcks(nil, []ack{{1, Result{Code: CodeOK}}}),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeAcks(b)
			assert.ErrorIs(t, err, ErrFrame)
		})
	}
}

// TestFrame_MAC: a keyed stream's frames verify in order, and a frame
// altered, replayed, dropped or written with another stream's key does
// not.
func TestFrame_MAC(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var buf bytes.Buffer
	fw := newFrameWriter(&buf, key)
	for i := 0; i < 3; i++ {
		require.NoError(t, fw.write(frameAcks, []byte{byte(i)}))
	}
	frames := splitFrames(t, buf.Bytes())

	read := func(key []byte, fs ...[]byte) error {
		fr := newFrameReader(bufio.NewReader(bytes.NewReader(bytes.Join(fs, nil))), key)
		for range fs {
			if _, _, err := fr.read(); err != nil {
				return err
			}
		}
		return nil
	}
	require.NoError(t, read(key, frames...))
	altered := bytes.Clone(frames[1])
	altered[5] ^= 1
	assert.ErrorIs(t, read(key, frames[0], altered), ErrFrame, "altered")
	assert.ErrorIs(t, read(key, frames[0], frames[0]), ErrFrame, "replayed")
	assert.ErrorIs(t, read(key, frames[0], frames[2]), ErrFrame, "one dropped")
	assert.ErrorIs(t, read([]byte("another stream's key, 32 bytes.."), frames[0]), ErrFrame, "another stream")
}

func TestFrame_LengthCheckedBeforeReading(t *testing.T) {
	b := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	fr := newFrameReader(bufio.NewReader(bytes.NewReader(b)), nil)
	_, _, err := fr.read()
	assert.ErrorIs(t, err, ErrFrame)

	var buf bytes.Buffer
	err = newFrameWriter(&buf, nil).write(frameWrites, make([]byte, MaxFrame))
	assert.ErrorIs(t, err, ErrFrame, "a writer never sends what a reader refuses")
	assert.Zero(t, buf.Len())
}

// splitFrames cuts a byte stream into its frames, length fields included.
func splitFrames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4)
		n := 4 + int(binary.BigEndian.Uint32(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func FuzzDecodeWrites(f *testing.F) {
	f.Add(appendWrites(nil, 1, sampleWrites()))
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := decodeWrites(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		batch := make([]Write, len(ws))
		for i, sw := range ws {
			batch[i] = sw.w
			if sw.seq != ws[0].seq+uint64(i) {
				return // numbered otherwise than a client numbers them
			}
		}
		if got := appendWrites(nil, ws[0].seq, batch); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, decoded from %x", got, b)
		}
	})
}

func FuzzDecodeAcks(f *testing.F) {
	f.Add(appendAcks(nil, []ack{{1, Result{Code: CodeOK, Held: v1}}, {2, Result{Code: CodeRefused, Msg: "no"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		acks, err := decodeAcks(b)
		if err != nil {
			return
		}
		if got := appendAcks(nil, acks); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, decoded from %x", got, b)
		}
	})
}
