package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/store"
)

// encodeDump writes entries in the dump format, as WriteDump does.
func encodeDump(t testing.TB, values bool, entries ...dumpEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	_, err := fmt.Fprintf(bw, "%s\n", dumpMagic)
	require.NoError(t, err)
	for _, d := range entries {
		require.NoError(t, writeDumpEntry(bw, d.key, d.entry, values))
	}
	_, err = fmt.Fprintf(bw, "%s\n", dumpEnd)
	require.NoError(t, err)
	require.NoError(t, bw.Flush())
	return buf.Bytes()
}

func readAll(b []byte, maxValue int64) ([]dumpEntry, error) {
	var got []dumpEntry
	err := readDump(bytes.NewReader(b), maxValue, func(d dumpEntry) error {
		got = append(got, d)
		return nil
	})
	return got, err
}

func TestDump_RoundTrip(t *testing.T) {
	v := store.Version{Clock: 0x18f2a3b4c5d0001, Node: 0x0a000005}
	in := []dumpEntry{
		{key: "a", entry: store.Entry{Value: []byte("one"), Version: v}},
		{key: "bin", entry: store.Entry{Value: []byte("x\n\x00y"), Version: v, Expires: 1700000000000}},
		{key: "gone", entry: store.Entry{Deleted: true, Version: v}},
	}
	t.Run("Values", func(t *testing.T) {
		got, err := readAll(encodeDump(t, true, in...), DefaultMaxValueSize)
		require.NoError(t, err)
		assert.Equal(t, in, got)
	})
	t.Run("NoValues", func(t *testing.T) {
		got, err := readAll(encodeDump(t, false, in...), DefaultMaxValueSize)
		require.NoError(t, err)
		require.Len(t, got, len(in))
		for i, d := range got {
			assert.Equal(t, in[i].key, d.key)
			assert.Equal(t, in[i].entry.Version, d.entry.Version)
			assert.Empty(t, d.entry.Value)
			assert.Equal(t, !in[i].entry.Deleted, d.noValue, "a live entry says it has no value")
		}
	})
}

func TestDump_Malformed(t *testing.T) {
	good := string(encodeDump(t, true, dumpEntry{key: "k", entry: store.Entry{Value: []byte("VALUE"), Version: store.Version{Clock: 1, Node: 2}}}))
	for _, tc := range []struct {
		name, dump string
	}{
		{"Empty", ""},
		{"BadMagic", strings.Replace(good, dumpMagic, "diststore-dump 1", 1)},
		{"CutShort", strings.TrimSuffix(good, dumpEnd+"\n")},
		{"CutInValue", good[:strings.Index(good, "VAL")+3]},
		{"TooLarge", strings.Replace(good, " 0 0 5\n", " 0 0 99\n", 1)},
		{"TombstoneWithValue", strings.Replace(good, " 0 0 5\n", " 1 0 5\n", 1)},
		{"BadFlags", strings.Replace(good, " 0 0 5\n", " 4 0 5\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll([]byte(tc.dump), 16)
			assert.ErrorIs(t, err, ErrBadDump)
		})
	}
}

// FuzzReadDump: the decoder never panics, and what it accepts encodes
// back to a dump it reads the same.
func FuzzReadDump(f *testing.F) {
	v := store.Version{Clock: 7, Node: 9}
	f.Add(encodeDump(f, true, dumpEntry{key: "k", entry: store.Entry{Value: []byte("v"), Version: v}}))
	f.Add(encodeDump(f, false, dumpEntry{key: "k", entry: store.Entry{Value: []byte("v"), Version: v, Expires: 5}},
		dumpEntry{key: "t", entry: store.Entry{Deleted: true, Version: v}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readAll(b, 1<<10)
		if err != nil {
			return
		}
		for _, d := range got {
			if d.noValue {
				return // a dump without values does not encode back with them
			}
		}
		again, err := readAll(encodeDump(t, true, got...), 1<<10)
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
}
