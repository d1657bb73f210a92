package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes.
const MaxKeyLen = 250

// MaxWireKeyLen is the longest WireKey of a key, in bytes: every byte
// escaped.
const MaxWireKeyLen = 3 * MaxKeyLen

// ErrBadKey is returned for a key that is empty, too long, not UTF-8 or
// contains whitespace or control characters.
var ErrBadKey = errors.New("bad key")

// CheckKey reports why key is not a valid key, or nil.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrBadKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not UTF-8", ErrBadKey)
	}
	for _, r := range key {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: contains whitespace or control character %U", ErrBadKey, r)
		}
	}
	return nil
}

// WireKey is key as it travels between nodes: in the datagrams (whohas,
// gotkey, nokey, inval) and in the paths of node-to-node requests. Every
// byte that is not allowed as is in a URL path segment (RFC 3986: letters,
// digits, "-._~", "!$&'()*+,;=", ":" and "@") is sent as %XX with
// upper-case hex, so "café" is "caf%C3%A9" and "a/b" is "a%2Fb". That is
// how browsers, curl and HTTP libraries send a key in a path, and so the
// text the original pydiststore, which keeps the path's text as the key,
// holds such a key under.
func WireKey(key string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(key); i++ {
		if !pathSafe(key[i]) {
			n++
		}
	}
	if n == 0 {
		return key
	}
	b := make([]byte, 0, len(key)+2*n)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if pathSafe(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// pathSafe reports whether c may stand as is in a URL path segment.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0
}

// KeyFromWire is the key a wire token names: %XX sequences are decoded,
// whatever the case of their hex digits, and any other byte stands for
// itself, so every way of escaping a key finds it. A "%" that does not
// start a valid %XX stands for itself too (the original keeps such a key
// as sent). The result is checked as CheckKey does.
func KeyFromWire(tok string) (string, error) {
	if strings.IndexByte(tok, '%') < 0 {
		return tok, CheckKey(tok)
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		if tok[i] == '%' && i+2 < len(tok) && isHex(tok[i+1]) && isHex(tok[i+2]) {
			b = append(b, unhex(tok[i+1])<<4|unhex(tok[i+2]))
			i += 2
			continue
		}
		b = append(b, tok[i])
	}
	key := string(b)
	return key, CheckKey(key)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
