package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/diststore/diststore/store"
)

// The dump format streams every entry a node holds durably, tombstones
// included:
//
//	diststore-dump 2\n
//	<key> <version> <flags> <expires> <length>\n<value>\n   (once per entry)
//	end\n
//
// flags is 1 for a tombstone; expires is Unix milliseconds, 0 for never.
// A dump without values (for a node checking its copies) has length 0 and
// flag 2 on every live entry. Keys hold no whitespace, so the header line
// splits on spaces; the closing "end" tells a complete dump from a cut one.
const (
	dumpMagic   = "diststore-dump 2"
	dumpEnd     = "end"
	dumpDeleted = 1
	dumpNoValue = 2
)

// ErrBadDump is returned when a dump stream is malformed or cut short.
var ErrBadDump = errors.New("malformed dump")

// WriteDump writes every entry this node holds to w, durably or in its
// cache (the latter only while a new master moves them); without values
// when values is false.
func (n *Node) WriteDump(w io.Writer, values bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := fmt.Fprintf(bw, "%s\n", dumpMagic); err != nil {
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
	if _, err := fmt.Fprintf(bw, "%s\n", dumpEnd); err != nil {
		return err
	}
	return bw.Flush()
}

// writeDumpEntry writes one entry in the dump format.
func writeDumpEntry(bw *bufio.Writer, key string, e store.Entry, values bool) error {
	flags, value := 0, e.Value
	if e.Deleted {
		flags, value = dumpDeleted, nil
	} else if !values {
		flags, value = dumpNoValue, nil
	}
	if _, err := fmt.Fprintf(bw, "%s %s %d %d %d\n", key, e.Version, flags, e.Expires, len(value)); err != nil {
		return err
	}
	if _, err := bw.Write(value); err != nil {
		return err
	}
	return bw.WriteByte('\n')
}

// dumpEntry is one entry read from a dump.
type dumpEntry struct {
	key     string
	entry   store.Entry
	noValue bool
}

// readDump calls fn for every entry of a dump, in order.
func readDump(r io.Reader, maxValue int64, fn func(dumpEntry) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	line := func() (string, error) {
		b, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: cut short", ErrBadDump)
			}
			return "", fmt.Errorf("%w: %v", ErrBadDump, err)
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	head, err := line()
	if err != nil {
		return err
	}
	if head != dumpMagic {
		return fmt.Errorf("%w: header %.40q", ErrBadDump, head)
	}
	for {
		h, err := line()
		if err != nil {
			return err
		}
		if h == dumpEnd {
			return nil
		}
		d, size, err := parseDumpHeader(h, maxValue)
		if err != nil {
			return err
		}
		value := make([]byte, size+1)
		if _, err := io.ReadFull(br, value); err != nil || value[size] != '\n' {
			return fmt.Errorf("%w: value of %q cut short", ErrBadDump, d.key)
		}
		if size > 0 {
			d.entry.Value = value[:size]
		}
		if err := fn(d); err != nil {
			return err
		}
	}
}

func parseDumpHeader(h string, maxValue int64) (dumpEntry, int64, error) {
	f := strings.Split(h, " ")
	if len(f) != 5 || store.CheckKey(f[0]) != nil {
		return dumpEntry{}, 0, fmt.Errorf("%w: entry header %.80q", ErrBadDump, h)
	}
	v, err := store.ParseVersion(f[1])
	if err != nil {
		return dumpEntry{}, 0, fmt.Errorf("%w: %v", ErrBadDump, err)
	}
	flags, err1 := strconv.ParseUint(f[2], 10, 8)
	expires, err2 := strconv.ParseInt(f[3], 10, 64)
	size, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || flags > dumpDeleted|dumpNoValue || size < 0 || size > maxValue {
		return dumpEntry{}, 0, fmt.Errorf("%w: entry header %.80q", ErrBadDump, h)
	}
	d := dumpEntry{
		key:     f[0],
		entry:   store.Entry{Version: v, Deleted: flags&dumpDeleted != 0, Expires: expires},
		noValue: flags&dumpNoValue != 0,
	}
	if d.entry.Deleted && size != 0 {
		return dumpEntry{}, 0, fmt.Errorf("%w: tombstone with a value: %.80q", ErrBadDump, h)
	}
	return d, size, nil
}
