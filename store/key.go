package store

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes.
const MaxKeyLen = 250

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
