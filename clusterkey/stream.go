package clusterkey

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// A replication stream (package repl) is one long-lived connection that
// carries many writes. Its upgrade request is signed as every node-to-node
// request is (Sign, Verify); on top of that both ends prove the key to each
// other and agree on keys of the stream's own, so that every frame can be
// authenticated cheaply and bound to this stream, its direction and its
// place in it:
//
//	client → server  StreamHelloHeader: "v1 <nonce C> <HMAC(root, hello, C)>"
//	server → client  StreamHelloHeader: "v1 <nonce S> <HMAC(session, accept)>"
//	session = HMAC(root, "session" C S)
//	client frames:   HMAC(HMAC(session, "c2s"), frame index, frame)
//	server frames:   HMAC(HMAC(session, "s2c"), frame index, frame)
//
// root is derived from a key of the file with HKDF ("diststore stream
// v1"): the client uses the first key, the server whichever opens the
// hello. Nonces are 32 random bytes, so a replayed upgrade request meets
// a fresh nonce S and gets a stream whose frames it cannot write.

// StreamHelloHeader carries each end's part of a stream handshake.
const StreamHelloHeader = "X-Diststore-Stream"

const streamNonceLen = 32

// ErrBadStreamHello: a stream handshake that does not prove the key
// (reason "bad_proof"), or is malformed.
var ErrBadStreamHello = &OpenError{"bad_proof", "bad proof of the cluster key in the stream handshake"}

// StreamKeys are the keys of one authenticated stream, one per direction.
type StreamKeys struct {
	// Send authenticates the frames this end sends, Recv those it reads.
	Send, Recv []byte
}

// StreamClient is the client's side of a handshake in progress.
type StreamClient struct {
	root  []byte
	nonce [streamNonceLen]byte
}

// streamRoot derives the stream root of one key of the file.
func streamRoot(k [KeySize]byte) []byte {
	root, err := hkdf.Key(sha256.New, k[:], nil, "diststore stream v1", sha256.Size)
	if err != nil {
		panic(err) // only for a length HKDF-SHA256 cannot give
	}
	return root
}

func hmacOf(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

var streamB64 = base64.RawURLEncoding

// StreamHello starts a handshake with the first key: the value of
// StreamHelloHeader for the upgrade request, and the state Finish needs.
func (r *Ring) StreamHello() (string, *StreamClient) {
	c := &StreamClient{root: (*r.streamRoots.Load())[0]}
	_, _ = rand.Read(c.nonce[:]) // never fails (crypto/rand)
	tag := hmacOf(c.root, []byte("hello"), c.nonce[:])
	return "v1 " + streamB64.EncodeToString(c.nonce[:]) + " " + streamB64.EncodeToString(tag), c
}

// AcceptStream checks a client's hello with every key of the ring and, if
// one opens it, returns the answer for StreamHelloHeader and the server's
// keys of the stream. The error is ErrBadStreamHello.
func (r *Ring) AcceptStream(hello string) (string, StreamKeys, error) {
	nonceC, tag, ok := parseHello(hello)
	if !ok {
		return "", StreamKeys{}, ErrBadStreamHello
	}
	for _, root := range *r.streamRoots.Load() {
		if !hmac.Equal(tag, hmacOf(root, []byte("hello"), nonceC)) {
			continue
		}
		var nonceS [streamNonceLen]byte
		_, _ = rand.Read(nonceS[:])
		session := hmacOf(root, []byte("session"), nonceC, nonceS[:])
		proof := hmacOf(session, []byte("accept"))
		keys := StreamKeys{Send: hmacOf(session, []byte("s2c")), Recv: hmacOf(session, []byte("c2s"))}
		return "v1 " + streamB64.EncodeToString(nonceS[:]) + " " + streamB64.EncodeToString(proof), keys, nil
	}
	return "", StreamKeys{}, ErrBadStreamHello
}

// Finish checks the server's answer: it must prove the same key. It
// returns the client's keys of the stream, or ErrBadStreamHello.
func (c *StreamClient) Finish(answer string) (StreamKeys, error) {
	nonceS, proof, ok := parseHello(answer)
	if !ok {
		return StreamKeys{}, ErrBadStreamHello
	}
	session := hmacOf(c.root, []byte("session"), c.nonce[:], nonceS)
	if !hmac.Equal(proof, hmacOf(session, []byte("accept"))) {
		return StreamKeys{}, ErrBadStreamHello
	}
	return StreamKeys{Send: hmacOf(session, []byte("c2s")), Recv: hmacOf(session, []byte("s2c"))}, nil
}

// parseHello splits "v1 <nonce> <tag>".
func parseHello(s string) (nonce, tag []byte, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "v1" {
		return nil, nil, false
	}
	nonce, err := streamB64.DecodeString(f[1])
	if err != nil || len(nonce) != streamNonceLen {
		return nil, nil, false
	}
	tag, err = streamB64.DecodeString(f[2])
	if err != nil || len(tag) != sha256.Size {
		return nil, nil, false
	}
	return nonce, tag, true
}
