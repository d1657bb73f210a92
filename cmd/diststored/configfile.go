package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/diststore/diststore/internal/nodecfg"
	"io/fs"
	"slices"
	"strings"
)

// configSection is the INI section diststored reads, as the original did;
// other sections are ignored, so one file can configure several programs.
const configSection = "diststored"

// configFile is what was read from a config file.
type configFile struct {
	path   string                 // the file read, "" if none
	values map[string]configValue // by key, from section [diststored]
}

// configValue is one key's value and the line it was on.
type configValue struct {
	text string
	line int
}

// openConfigFile reads the config file: explicit if it is not "" (it must
// exist), else the first of search that exists; with neither, it returns an
// empty configFile. keys are the keys allowed in [diststored].
func openConfigFile(explicit string, search, keys []string) (configFile, error) {
	if explicit != "" {
		data, err := nodecfg.ReadFile(explicit)
		if errors.Is(err, fs.ErrNotExist) {
			return configFile{}, &settingError{Source: "--" + flagConfig, Value: explicit, Err: errors.New("no such file")}
		}
		if err != nil {
			return configFile{}, err
		}
		return parseConfig(explicit, data, keys)
	}
	for _, path := range search {
		data, err := nodecfg.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil { // exists but unreadable: say so rather than skip it
			return configFile{}, err
		}
		return parseConfig(path, data, keys)
	}
	return configFile{}, nil
}

// parseConfig parses data, the INI text of the file path, and returns the
// values of section [diststored], whose keys must be among keys.
//
// The dialect is the one Python's ConfigParser reads, reduced to what
// diststored.cfg needs: "[section]" headers; "key = value" or
// "key: value" (split at the first = or :) with whitespace trimmed and
// keys case-insensitive; whole-line comments starting with # or ; and
// inline comments starting with a # or ; that follows whitespace. Values
// are not unquoted. Errors name path:line.
func parseConfig(path string, data []byte, keys []string) (configFile, error) {
	cfg := configFile{path: path, values: map[string]configValue{}}
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
				return configFile{}, fmt.Errorf("%s:%d: malformed section header %q", path, n, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep <= 0 {
			return configFile{}, fmt.Errorf("%s:%d: malformed line %q, want key = value", path, n, line)
		}
		key := strings.ToLower(strings.TrimSpace(line[:sep]))
		value := stripInlineComment(strings.TrimSpace(line[sep+1:]))
		switch {
		case section == "":
			return configFile{}, fmt.Errorf("%s:%d: key %q before any [section]", path, n, key)
		case section != configSection:
			continue
		case !slices.Contains(keys, key):
			return configFile{}, fmt.Errorf("%s:%d: unknown key %q in [%s] (known: %s)",
				path, n, key, configSection, strings.Join(keys, ", "))
		}
		if prev, dup := cfg.values[key]; dup {
			return configFile{}, fmt.Errorf("%s:%d: key %q already set on line %d", path, n, key, prev.line)
		}
		cfg.values[key] = configValue{text: value, line: n}
	}
	return cfg, nil
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
