package clusterkey

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func streamRing(t *testing.T, ks ...byte) *Ring {
	t.Helper()
	var keys [][KeySize]byte
	for _, b := range ks {
		var k [KeySize]byte
		k[0] = b
		keys = append(keys, k)
	}
	r, err := New(keys, Options{})
	require.NoError(t, err)
	return r
}

// TestStream_Handshake: both ends agree on the stream's keys, one per
// direction, and each end's send key is the other's receive key.
func TestStream_Handshake(t *testing.T) {
	client, server := streamRing(t, 1), streamRing(t, 1)
	hello, c := client.StreamHello()
	answer, sk, err := server.AcceptStream(hello)
	require.NoError(t, err)
	ck, err := c.Finish(answer)
	require.NoError(t, err)
	assert.Equal(t, ck.Send, sk.Recv)
	assert.Equal(t, ck.Recv, sk.Send)
	assert.NotEqual(t, ck.Send, ck.Recv, "each direction has its own key")

	// Another stream, even from the same hello (a replay), gets other keys.
	answer2, sk2, err := server.AcceptStream(hello)
	require.NoError(t, err)
	assert.NotEqual(t, sk.Recv, sk2.Recv)
	_, err = c.Finish(answer2)
	require.NoError(t, err, "the client would take it, but the replayer cannot: it has no client state")
}

// TestStream_Rotation: a server holding the new key second (or first)
// accepts a client that signs with either.
func TestStream_Rotation(t *testing.T) {
	server := streamRing(t, 2, 1)
	for _, client := range []*Ring{streamRing(t, 1), streamRing(t, 2), streamRing(t, 1, 2)} {
		hello, c := client.StreamHello()
		answer, sk, err := server.AcceptStream(hello)
		require.NoError(t, err)
		ck, err := c.Finish(answer)
		require.NoError(t, err)
		assert.Equal(t, ck.Send, sk.Recv)
	}
}

func TestStream_Refused(t *testing.T) {
	server := streamRing(t, 1)
	otherHello, _ := streamRing(t, 2).StreamHello()
	hello, c := streamRing(t, 1).StreamHello()
	// The tag's first character: every bit of it counts.
	at := strings.LastIndex(hello, " ") + 1
	flip := "A"
	if hello[at] == 'A' {
		flip = "B"
	}
	for name, h := range map[string]string{
		"another key": otherHello,
		"empty":       "",
		"garbage":     "v1 x y",
		"version":     strings.Replace(hello, "v1", "v2", 1),
		"tampered":    hello[:at] + flip + hello[at+1:],
	} {
		_, _, err := server.AcceptStream(h)
		assert.ErrorIs(t, err, ErrBadStreamHello, name)
		assert.Equal(t, "bad_proof", Reason(err), name)
	}
	// The client refuses a server that cannot prove the key.
	answer, _, err := streamRing(t, 2).AcceptStream(otherHello)
	require.NoError(t, err)
	_, err = c.Finish(answer)
	assert.ErrorIs(t, err, ErrBadStreamHello, "an answer under another key")
	_, err = c.Finish("")
	assert.ErrorIs(t, err, ErrBadStreamHello, "no answer at all (an open node)")
}
