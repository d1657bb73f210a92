package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The dump format streams entries, tombstones included, one after the
// other:
//
//	diststore-dump 2\n
//	<key> <version> <flags> <expires> <length>\n<value>\n   (once per entry)
//	end\n
//
// flags is 1 for a tombstone; expires is Unix milliseconds, 0 for never.
// A dump without values (for a node checking its copies) has length 0 and
// flag 2 on every live entry. Keys hold no whitespace, so the header line
// splits on spaces; the closing "end" tells a complete dump from a cut one.
//
// Master sync streams a node's entries in it (GET /dump), and a restore
// sends a backup's entries to a master in it (POST /admin/restore).
const (
	DumpMagic   = "diststore-dump 2"
	DumpEnd     = "end"
	dumpDeleted = 1
	dumpNoValue = 2
)

// ErrBadDump is returned when a dump stream is malformed or cut short.
var ErrBadDump = errors.New("malformed dump")

// WriteDumpHeader writes the line a dump starts with.
func WriteDumpHeader(bw *bufio.Writer) error {
	_, err := bw.WriteString(DumpMagic + "\n")
	return err
}

// WriteDumpEnd writes the line that ends a complete dump.
func WriteDumpEnd(bw *bufio.Writer) error {
	_, err := bw.WriteString(DumpEnd + "\n")
	return err
}

// WriteDumpEntry writes one entry in the dump format, without its value
// when values is false.
func WriteDumpEntry(bw *bufio.Writer, key string, e Entry, values bool) error {
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

// ReadDump calls fn for every entry of a dump, in order, until fn returns
// an error, which ReadDump returns. noValue says the entry is listed
// without its value. A value larger than maxValue, a malformed line and a
// dump without its end are ErrBadDump.
func ReadDump(r io.Reader, maxValue int64, fn func(key string, e Entry, noValue bool) error) error {
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
	if head != DumpMagic {
		return fmt.Errorf("%w: header %.40q", ErrBadDump, head)
	}
	for {
		h, err := line()
		if err != nil {
			return err
		}
		if h == DumpEnd {
			return nil
		}
		key, e, noValue, size, err := parseDumpHeader(h, maxValue)
		if err != nil {
			return err
		}
		value := make([]byte, size+1)
		if _, err := io.ReadFull(br, value); err != nil || value[size] != '\n' {
			return fmt.Errorf("%w: value of %q cut short", ErrBadDump, key)
		}
		if size > 0 {
			e.Value = value[:size]
		}
		if err := fn(key, e, noValue); err != nil {
			return err
		}
	}
}

func parseDumpHeader(h string, maxValue int64) (key string, e Entry, noValue bool, size int64, err error) {
	f := strings.Split(h, " ")
	if len(f) != 5 || CheckKey(f[0]) != nil {
		return "", Entry{}, false, 0, fmt.Errorf("%w: entry header %.80q", ErrBadDump, h)
	}
	v, err := ParseVersion(f[1])
	if err != nil {
		return "", Entry{}, false, 0, fmt.Errorf("%w: %v", ErrBadDump, err)
	}
	flags, err1 := strconv.ParseUint(f[2], 10, 8)
	expires, err2 := strconv.ParseInt(f[3], 10, 64)
	size, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || flags > dumpDeleted|dumpNoValue || size < 0 || size > maxValue {
		return "", Entry{}, false, 0, fmt.Errorf("%w: entry header %.80q", ErrBadDump, h)
	}
	e = Entry{Version: v, Deleted: flags&dumpDeleted != 0, Expires: expires}
	if e.Deleted && size != 0 {
		return "", Entry{}, false, 0, fmt.Errorf("%w: tombstone with a value: %.80q", ErrBadDump, h)
	}
	return f[0], e, flags&dumpNoValue != 0, size, nil
}
