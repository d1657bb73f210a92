package cluster

import (
	"bufio"
	"io"

	"github.com/diststore/diststore/store"
)

// The dump format is package store's (store.ReadDump): every entry a node
// holds durably, tombstones included, with its version; without values for
// a node checking its copies.
const (
	dumpMagic = store.DumpMagic
	dumpEnd   = store.DumpEnd
)

// ErrBadDump is returned when a dump stream is malformed or cut short.
var ErrBadDump = store.ErrBadDump

// WriteDump writes every entry this node holds to w, durably or in its
// cache (the latter only while a new master moves them); without values
// when values is false.
func (n *Node) WriteDump(w io.Writer, values bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := store.WriteDumpHeader(bw); err != nil {
		return err
	}
	var werr error
	now := n.nowMs()
	n.durable.Range(func(key string, e store.Entry) bool {
		if !e.Deleted && !e.Live(now) {
			return true // expired: nobody may read it any more
		}
		werr = writeDumpEntry(bw, key, e, values)
		return werr == nil
	})
	if werr != nil {
		return werr
	}
	// Copies still in the cache: a new master is moving them into its
	// durable store; a partner syncing meanwhile must not miss them.
	for key, e := range n.cache.snapshot() {
		if err := writeDumpEntry(bw, key, e, values); err != nil {
			return err
		}
	}
	if err := store.WriteDumpEnd(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// writeDumpEntry writes one entry in the dump format.
func writeDumpEntry(bw *bufio.Writer, key string, e store.Entry, values bool) error {
	return store.WriteDumpEntry(bw, key, e, values)
}

// dumpEntry is one entry read from a dump.
type dumpEntry struct {
	key     string
	entry   store.Entry
	noValue bool
}

// readDump calls fn for every entry of a dump, in order.
func readDump(r io.Reader, maxValue int64, fn func(dumpEntry) error) error {
	return store.ReadDump(r, maxValue, func(key string, e store.Entry, noValue bool) error {
		return fn(dumpEntry{key: key, entry: e, noValue: noValue})
	})
}
