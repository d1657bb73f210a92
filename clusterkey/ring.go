// Package clusterkey owns the cluster key: the key file (its syntax, its
// permissions, its reload on SIGHUP), the sealing and opening of datagrams
// with it, and the proof of it that node-to-node HTTP requests carry.
//
// A key file holds one or more keys, one per line, each 32 random bytes in
// standard base64 (what `diststore keygen` prints); blank lines and lines
// starting with # are ignored. The first key seals and signs; every key
// opens and verifies, so a key can be rotated without a flag day: add the
// new key on every node, then move it to the front on every node, then
// remove the old one, reloading (SIGHUP) after each step.
//
// The file's key is never used directly: two keys are derived from it with
// HKDF-SHA256, one for datagrams (XChaCha20-Poly1305) and one for HTTP
// (HMAC-SHA256), so neither use can be turned against the other.
package clusterkey

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Limits of a key file.
const (
	// KeySize is the length of a key, in bytes, before base64.
	KeySize = 32
	// MaxKeys is the most keys a file may hold: a rotation needs two.
	MaxKeys = 16
	// maxFileSize bounds what is read of a key or token file.
	maxFileSize = 64 << 10
)

// DefaultWindow is how far a datagram's or a request's timestamp may be
// from this node's clock, either way, for it to be accepted. It matches
// the default --max-clock-skew: a node whose clock is further off cannot
// write anyway.
const DefaultWindow = time.Minute

// ErrBadKeyFile: the key file cannot be used (syntax, size, permissions).
var ErrBadKeyFile = errors.New("bad cluster key file")

// NewKey returns a fresh random key in the key file's syntax.
func NewKey() string {
	var k [KeySize]byte
	_, _ = rand.Read(k[:]) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(k[:])
}

// ParseKeys parses a key file's contents. At least one key is required.
func ParseKeys(data []byte) ([][KeySize]byte, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadKeyFile, maxFileSize)
	}
	var keys [][KeySize]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), maxFileSize)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(raw) != KeySize {
			// The line is a secret: never echo it.
			return nil, fmt.Errorf("%w: line %d is not %d bytes in standard base64 (make one with `diststore keygen`)", ErrBadKeyFile, line, KeySize)
		}
		var k [KeySize]byte
		copy(k[:], raw)
		for i, prev := range keys {
			if prev == k {
				return nil, fmt.Errorf("%w: line %d repeats key %d", ErrBadKeyFile, line, i+1)
			}
		}
		if len(keys) == MaxKeys {
			return nil, fmt.Errorf("%w: more than %d keys", ErrBadKeyFile, MaxKeys)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key (make one with `diststore keygen`)", ErrBadKeyFile)
	}
	return keys, nil
}

// ReadSecretFile reads a file of secrets (a key file, a token file). It
// refuses a file that other users may read or write, or that the file's
// group may write: a secret others can read is no secret.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: other users may read it or its group may write it (chmod 600 %s)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is longer than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// derived holds what is derived from one key of the file.
type derived struct {
	aead cipher.AEAD // seals datagrams
	mac  []byte      // signs HTTP requests
}

// derive returns the keys derived from k.
func derive(k [KeySize]byte) derived {
	dk, err := hkdf.Key(sha256.New, k[:], nil, "diststore datagram v1", chacha20poly1305.KeySize)
	if err != nil {
		panic(err) // only for a length HKDF-SHA256 cannot give
	}
	aead, err := chacha20poly1305.NewX(dk)
	if err != nil {
		panic(err) // only for a key of the wrong size
	}
	mk, err := hkdf.Key(sha256.New, k[:], nil, "diststore http v1", sha256.Size)
	if err != nil {
		panic(err)
	}
	return derived{aead: aead, mac: mk}
}

// Ring is the set of cluster keys a node holds. It is safe for concurrent
// use; Reload replaces the keys while it is in use.
type Ring struct {
	path   string
	window time.Duration
	now    func() time.Time

	keys atomic.Pointer[[]derived] // the first seals and signs
	// streamRoots are the roots of replication streams' keys, one per
	// key, in the same order (stream.go).
	streamRoots atomic.Pointer[[][]byte]

	sender [8]byte       // this process's sender id in datagrams, random
	seq    atomic.Uint64 // the last sequence number sealed

	mu     sync.Mutex // guards replay
	replay replayTable
}

// Options configure a Ring. Zero values mean the documented default.
type Options struct {
	// Window is how far a timestamp may be from this node's clock.
	// 0 means DefaultWindow.
	Window time.Duration
	// Now is the clock. nil means time.Now.
	Now func() time.Time
}

// Load reads the key file at path (see ReadSecretFile for the
// permissions it needs) and returns its Ring.
func Load(path string, opts Options) (*Ring, error) {
	r := &Ring{path: path}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	r.init(opts)
	return r, nil
}

// New returns a Ring of the given keys, the first sealing and signing.
func New(keys [][KeySize]byte, opts Options) (*Ring, error) {
	if len(keys) == 0 || len(keys) > MaxKeys {
		return nil, fmt.Errorf("%w: %d keys, want 1 to %d", ErrBadKeyFile, len(keys), MaxKeys)
	}
	r := &Ring{}
	r.set(keys)
	r.init(opts)
	return r, nil
}

func (r *Ring) init(opts Options) {
	r.window = opts.Window
	if r.window <= 0 {
		r.window = DefaultWindow
	}
	r.now = opts.Now
	if r.now == nil {
		r.now = time.Now
	}
	_, _ = rand.Read(r.sender[:]) // never fails (crypto/rand)
	r.replay = replayTable{senders: make(map[[8]byte]*senderWindow)}
}

func (r *Ring) set(keys [][KeySize]byte) {
	ds := make([]derived, len(keys))
	roots := make([][]byte, len(keys))
	for i, k := range keys {
		ds[i] = derive(k)
		roots[i] = streamRoot(k)
	}
	r.streamRoots.Store(&roots)
	r.keys.Store(&ds)
}

// Reload reads the key file again and, if it is good, uses its keys from
// now on. If it is not, the keys in use stay and the error says why.
func (r *Ring) Reload() error {
	if r.path == "" {
		return errors.New("reload cluster key: the keys were not read from a file")
	}
	data, err := ReadSecretFile(r.path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	r.set(keys)
	return nil
}

// Len returns the number of keys in use.
func (r *Ring) Len() int { return len(*r.keys.Load()) }

// Path returns the key file the ring was loaded from, "" if none.
func (r *Ring) Path() string { return r.path }

// fresh reports whether a timestamp (Unix milliseconds) is within the
// window of this node's clock.
func (r *Ring) fresh(ms int64) bool {
	now := r.now().UnixMilli()
	w := r.window.Milliseconds()
	// Both are far from the ends of int64: no overflow.
	return ms >= now-w && ms <= now+w
}
