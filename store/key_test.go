package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/store"
)

func TestWireKey(t *testing.T) {
	for _, tc := range []struct{ key, wire string }{
		{"plain-key_1.2~x", "plain-key_1.2~x"},
		{"café", "caf%C3%A9"},
		{"a/b", "a%2Fb"},
		{"100%", "100%25"},
		{"a?b#c", "a%3Fb%23c"},
		{"user@host:1,2;x=y+z!$&'()*", "user@host:1,2;x=y+z!$&'()*"},
		{"quo\"te<>", "quo%22te%3C%3E"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			assert.Equal(t, tc.wire, store.WireKey(tc.key))
			got, err := store.KeyFromWire(tc.wire)
			require.NoError(t, err)
			assert.Equal(t, tc.key, got, "round trip")
		})
	}
}

func TestKeyFromWire_AnyEscapingFindsTheKey(t *testing.T) {
	for _, tok := range []string{"caf%C3%A9", "caf%c3%a9", "café", "%63af%C3%A9"} {
		got, err := store.KeyFromWire(tok)
		require.NoError(t, err, tok)
		assert.Equal(t, "café", got, tok)
	}
	// A "%" that starts no %XX stands for itself, as the original keeps it.
	for tok, want := range map[string]string{"100%": "100%", "a%zz": "a%zz", "a%4": "a%4", "%%41": "%A"} {
		got, err := store.KeyFromWire(tok)
		require.NoError(t, err, tok)
		assert.Equal(t, want, got, tok)
	}
	// What decodes to a bad key is refused.
	for _, tok := range []string{"a%20b", "a%0Ab", "%FF", "", strings.Repeat("%41", store.MaxKeyLen+1)} {
		_, err := store.KeyFromWire(tok)
		assert.True(t, errors.Is(err, store.ErrBadKey), "%q: %v", tok, err)
	}
	assert.Len(t, store.WireKey(strings.Repeat("é", store.MaxKeyLen/2)), store.MaxWireKeyLen, "every byte escaped")
}

func FuzzKeyFromWire(f *testing.F) {
	for _, s := range []string{"café", "caf%C3%A9", "100%", "a%2Fb", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		key, err := store.KeyFromWire(tok)
		if err != nil {
			return
		}
		w := store.WireKey(key)
		if len(w) > store.MaxWireKeyLen {
			t.Fatalf("WireKey(%q) is %d bytes", key, len(w))
		}
		back, err := store.KeyFromWire(w)
		if err != nil || back != key {
			t.Fatalf("KeyFromWire(WireKey(%q)) = %q, %v", key, back, err)
		}
	})
}
