package nodecfg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// File is the [diststored] section of a config file.
type File struct {
	Path   string           // the file read, "" if none
	Values map[string]Value // by lower-case key
}

// Value is one key's value and the line it was on, for messages.
type Value struct {
	Text string
	Line int // 1-based
}

// Open finds and reads the config file: explicit if it is not "" (it must
// exist: a missing file's error wraps fs.ErrNotExist), else the first of
// search that exists. With neither it returns path "" and no data. A file
// that exists but cannot be read is an error rather than skipped: the
// settings would then be guessed wrong.
func Open(explicit string, search []string) (path string, data []byte, err error) {
	if explicit != "" {
		data, err := ReadFile(explicit)
		if err != nil {
			return "", nil, err
		}
		return explicit, data, nil
	}
	for _, p := range search {
		data, err := ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return p, data, nil
	}
	return "", nil, nil
}

// Parse parses data, the INI text of the file path, and returns the values
// of section [diststored]. keys, if not nil, are the keys allowed there.
//
// The dialect is the one Python's ConfigParser reads, reduced to what
// diststored.cfg needs: "[section]" headers; "key = value" or
// "key: value" (split at the first = or :) with whitespace trimmed and
// keys case-insensitive; whole-line comments starting with # or ; and
// inline comments starting with a # or ; that follows whitespace; a
// leading byte order mark. Values are not unquoted.
//
// A line it cannot take (malformed, before any section, an unknown key, a
// key set twice) is skipped, and the error names the first such line as
// path:line. The File holds every value read all the same: diststored
// refuses a file with an error, while the client, which only looks for
// the node's address, uses what could be read.
func Parse(path string, data []byte, keys []string) (File, error) {
	f := File{Path: path, Values: map[string]Value{}}
	var first error
	bad := func(n int, format string, args ...any) {
		if first == nil {
			first = fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				bad(n, "malformed section header %q", line)
				continue
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep <= 0 {
			bad(n, "malformed line %q, want key = value", line)
			continue
		}
		key := strings.ToLower(strings.TrimSpace(line[:sep]))
		value := stripInlineComment(strings.TrimSpace(line[sep+1:]))
		switch {
		case section == "":
			bad(n, "key %q before any [section]", key)
			continue
		case section != Section:
			continue
		case keys != nil && !slices.Contains(keys, key):
			bad(n, "unknown key %q in [%s] (known: %s)", key, Section, strings.Join(keys, ", "))
			continue
		}
		if prev, dup := f.Values[key]; dup {
			bad(n, "key %q already set on line %d", key, prev.Line)
			continue
		}
		f.Values[key] = Value{Text: value, Line: n}
	}
	return f, first
}

// stripInlineComment cuts value at the first # or ; that follows
// whitespace, and trims what is left.
func stripInlineComment(value string) string {
	for i := 1; i < len(value); i++ {
		if (value[i] == '#' || value[i] == ';') && (value[i-1] == ' ' || value[i-1] == '\t') {
			return strings.TrimSpace(value[:i])
		}
	}
	return value
}
