package clusterkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func key(b byte) [KeySize]byte {
	var k [KeySize]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func b64(k [KeySize]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newRing(t *testing.T, clk *fakeClock, keys ...[KeySize]byte) *Ring {
	t.Helper()
	r, err := New(keys, Options{Now: clk.now})
	require.NoError(t, err)
	return r
}

func TestParseKeys(t *testing.T) {
	k1, k2 := b64(key(1)), b64(key(2))
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	cases := []struct {
		name, file string
		want       int    // keys, when ok
		err        string // substring of the error, "" when ok
	}{
		{"one", k1 + "\n", 1, ""},
		{"no newline", k1, 1, ""},
		{"two, comments and blanks", "# rotation\n\n" + k2 + "\n  " + k1 + "  \n", 2, ""},
		{"empty", "", 0, "no key"},
		{"only comments", "# nothing\n", 0, "no key"},
		{"short key", short + "\n", 0, "line 1 is not 32 bytes"},
		{"not base64", k1 + "\nnot-a-key!\n", 0, "line 2"},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(b64([KeySize]byte{0xfb, 0xff})), 0, "line 1"},
		{"repeated", k1 + "\n" + k1 + "\n", 0, "line 2 repeats key 1"},
		{"too many", func() string {
			var b strings.Builder
			for i := range MaxKeys + 1 {
				b.WriteString(b64(key(byte(i*40))) + "\n")
			}
			return b.String()
		}(), 0, "more than 16 keys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(c.file))
			if c.err != "" {
				require.ErrorIs(t, err, ErrBadKeyFile)
				assert.Contains(t, err.Error(), c.err)
				// A key file's lines are secrets: an error never shows one.
				for _, line := range strings.Split(c.file, "\n") {
					if s := strings.TrimSpace(line); len(s) > 8 {
						assert.NotContains(t, err.Error(), s)
					}
				}
				return
			}
			require.NoError(t, err)
			assert.Len(t, keys, c.want)
		})
	}
	keys, err := ParseKeys([]byte(k2 + "\n" + k1))
	require.NoError(t, err)
	assert.Equal(t, [][KeySize]byte{key(2), key(1)}, keys, "the file's order: the first key seals")
}

func TestNewKey_Parses(t *testing.T) {
	a, b := NewKey(), NewKey()
	assert.NotEqual(t, a, b)
	keys, err := ParseKeys([]byte(a + "\n" + b + "\n"))
	require.NoError(t, err)
	assert.Len(t, keys, 2)
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(data), mode))
	require.NoError(t, os.Chmod(path, mode)) // past the umask
}

func TestReadSecretFile_Permissions(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o640, true}, {0o440, true},
		{0o644, false}, {0o604, false}, {0o660, false}, {0o602, false}, {0o666, false},
	} {
		p := filepath.Join(dir, c.mode.String())
		writeFile(t, p, "secret", c.mode)
		_, err := ReadSecretFile(p)
		if c.ok {
			assert.NoError(t, err, "mode %v", c.mode)
		} else if assert.Error(t, err, "mode %v", c.mode) {
			assert.Contains(t, err.Error(), "chmod 600")
		}
	}
	_, err := ReadSecretFile(dir)
	assert.ErrorContains(t, err, "not a regular file")
	_, err = ReadSecretFile(filepath.Join(dir, "absent"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	big := filepath.Join(dir, "big")
	writeFile(t, big, strings.Repeat("x", maxFileSize+1), 0o600)
	_, err = ReadSecretFile(big)
	assert.ErrorContains(t, err, "longer than")
}

func TestLoad_ReloadKeepsKeysOnBadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cluster.key")
	writeFile(t, p, b64(key(1))+"\n", 0o600)
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	r, err := Load(p, Options{Now: clk.now})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Len())
	assert.Equal(t, p, r.Path())
	peer := newRing(t, clk, key(1))
	ad := []byte("239.255.41.83:4983")

	// A broken file is refused; the key in use stays.
	writeFile(t, p, "garbage\n", 0o600)
	require.ErrorIs(t, r.Reload(), ErrBadKeyFile)
	_, err = peer.Open(r.Seal([]byte("hb"), ad), ad)
	assert.NoError(t, err, "the old key still seals after a failed reload")

	// A readable-by-all file is refused too.
	writeFile(t, p, b64(key(2))+"\n", 0o644)
	require.ErrorIs(t, r.Reload(), ErrBadKeyFile)

	// A good file is taken: its first key seals from now on.
	writeFile(t, p, b64(key(2))+"\n"+b64(key(1))+"\n", 0o600)
	require.NoError(t, r.Reload())
	assert.Equal(t, 2, r.Len())
	_, err = peer.Open(r.Seal([]byte("hb"), ad), ad)
	assert.ErrorIs(t, err, ErrBadSeal, "sealed with the new first key, which peer lacks")
	_, err = r.Open(peer.Seal([]byte("hb"), ad), ad)
	assert.NoError(t, err, "the second key still opens")

	_, err = Load(filepath.Join(dir, "absent"), Options{})
	assert.ErrorIs(t, err, ErrBadKeyFile)
}

func TestSealOpen(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ad := []byte("239.255.41.83:4983")
	a, b := newRing(t, clk, key(1)), newRing(t, clk, key(1))
	msg := []byte("hb 1 127.0.2.1 10 3 127.0.2.1 127.0.2.2 1")
	sealed := a.Seal(msg, ad)
	assert.Len(t, sealed, len(msg)+Overhead)
	assert.NotContains(t, string(sealed), "127.0.2.1", "the message is encrypted")

	got, err := b.Open(sealed, ad)
	require.NoError(t, err)
	assert.Equal(t, msg, got)

	cases := []struct {
		name string
		b    []byte
		ad   []byte
		want error
	}{
		{"replayed", sealed, ad, ErrReplay},
		{"plaintext", msg, ad, ErrUnsealed},
		{"empty", nil, ad, ErrUnsealed},
		{"magic only", magic[:], ad, ErrBadSeal},
		{"cut short", sealed[:len(sealed)-1], ad, ErrBadSeal},
		{"other group", a.Seal(msg, ad), []byte("239.255.41.84:4983"), ErrBadSeal},
		{"other key", newRing(t, clk, key(2)).Seal(msg, ad), ad, ErrBadSeal},
		{"flipped header bit", flip(a.Seal(msg, ad), 25), ad, ErrBadSeal},
		{"flipped sequence", flip(a.Seal(msg, ad), 27), ad, ErrBadSeal},
		{"flipped body bit", flip(a.Seal(msg, ad), headerLen+nonceLen+3), ad, ErrBadSeal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.Open(c.b, c.ad)
			assert.ErrorIs(t, err, c.want)
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

func TestOpen_Window(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ad := []byte("g")
	a, b := newRing(t, clk, key(1)), newRing(t, clk, key(1))
	old := a.Seal([]byte("x"), ad)
	clk.add(DefaultWindow + time.Millisecond)
	_, err := b.Open(old, ad)
	assert.ErrorIs(t, err, ErrStale, "older than the window")

	// A sender whose clock is ahead by less than the window is heard; by
	// more, it is not.
	ahead := newRing(t, &fakeClock{t: clk.now().Add(DefaultWindow - time.Second)}, key(1))
	_, err = b.Open(ahead.Seal([]byte("x"), ad), ad)
	assert.NoError(t, err)
	far := newRing(t, &fakeClock{t: clk.now().Add(DefaultWindow + time.Second)}, key(1))
	_, err = b.Open(far.Seal([]byte("x"), ad), ad)
	assert.ErrorIs(t, err, ErrStale)
}

func TestOpen_ReorderedButNotReplayed(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	ad := []byte("g")
	a, b := newRing(t, clk, key(1)), newRing(t, clk, key(1))
	var sealed [][]byte
	for range replayWindow + 10 {
		sealed = append(sealed, a.Seal([]byte("x"), ad))
	}
	// The newest first, then every other one below it, newest to oldest:
	// each opens once, and once only.
	_, err := b.Open(sealed[len(sealed)-1], ad)
	require.NoError(t, err)
	for i := len(sealed) - 3; i >= len(sealed)-replayWindow; i -= 2 {
		_, err := b.Open(sealed[i], ad)
		require.NoError(t, err, "datagram %d, within the window below the highest", i)
		_, err = b.Open(sealed[i], ad)
		require.ErrorIs(t, err, ErrReplay, "datagram %d again", i)
	}
	_, err = b.Open(sealed[len(sealed)-1-replayWindow], ad)
	assert.ErrorIs(t, err, ErrReplay, "too far below the highest to tell: refused")
}

func TestReplayTable_Shift(t *testing.T) {
	for _, n := range []uint64{1, 2, 63, 64, 65, 127, 128, 500, replayWindow - 1, replayWindow, replayWindow + 1} {
		var w senderWindow
		w.seen[0] = 1 // highest seen
		w.shift(n)
		for d := uint64(0); d < replayWindow; d++ {
			got := w.seen[d/64]&(1<<(d%64)) != 0
			assert.Equal(t, d == n, got, "shift %d, bit %d", n, d)
		}
	}
}

func TestReplayTable_Bounded(t *testing.T) {
	tab := replayTable{senders: map[[8]byte]*senderWindow{}}
	now := time.Unix(1_800_000_000, 0)
	id := func(i int) [8]byte { return [8]byte{byte(i), byte(i >> 8), byte(i >> 16)} }
	for i := range maxSenders {
		require.True(t, tab.accept(id(i), 1, now, time.Minute))
	}
	assert.False(t, tab.accept(id(maxSenders), 1, now, time.Minute), "full of live senders")
	assert.True(t, tab.accept(id(0), 2, now, time.Minute), "a known sender goes on")
	later := now.Add(2 * time.Minute)
	assert.True(t, tab.accept(id(maxSenders), 1, later, time.Minute), "old senders are forgotten for a new one")
	assert.Len(t, tab.senders, 1)
}

func TestSignVerify(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	server, client := newRing(t, clk, key(1), key(2)), newRing(t, clk, key(2))
	var got []error
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := server.Verify(r, sha256.Sum256(body))
		mu.Lock()
		got = append(got, err)
		mu.Unlock()
	}))
	defer srv.Close()
	hc := &http.Client{Transport: client.Transport(http.DefaultTransport)}
	last := func() error { mu.Lock(); defer mu.Unlock(); return got[len(got)-1] }

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/local/a%2Fb?x=1", strings.NewReader("value"))
	req.Header.Set("X-Diststore-Version", "1-2")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.NoError(t, last(), "signed with the server's second key")

	resp, err = hc.Get(srv.URL + "/dump")
	require.NoError(t, err)
	resp.Body.Close()
	assert.NoError(t, last(), "no body")

	// What a forger can do with a captured proof: each fails.
	capture := func(method, path, body string, hdr map[string]string) *http.Request {
		r := httptest.NewRequest(method, "http://node:8181"+path, strings.NewReader(body))
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		r.RequestURI = r.URL.RequestURI() // as a server sees it
		client.Sign(r, sha256.Sum256([]byte(body)))
		return r
	}
	verify := func(r *http.Request, body string) error { return server.Verify(r, sha256.Sum256([]byte(body))) }
	r := capture("POST", "/local/k", "v", map[string]string{"X-Diststore-Version": "5-1"})
	assert.NoError(t, verify(r, "v"))
	assert.ErrorIs(t, verify(r, "w"), ErrBadProof, "other body")
	r2 := capture("POST", "/local/k", "v", map[string]string{"X-Diststore-Version": "5-1"})
	r2.Header.Set("X-Diststore-Version", "ffffffffffffffff-1")
	assert.ErrorIs(t, verify(r2, "v"), ErrBadProof, "other version header")
	r3 := capture("POST", "/local/k", "v", nil)
	r3.Method = "DELETE"
	assert.ErrorIs(t, verify(r3, "v"), ErrBadProof, "other method")
	r4 := capture("POST", "/local/k", "v", nil)
	r4.RequestURI = "/local/other"
	assert.ErrorIs(t, verify(r4, "v"), ErrBadProof, "other path")
	r5 := capture("POST", "/local/k", "v", nil)
	r5.Host = "othernode:8181"
	assert.ErrorIs(t, verify(r5, "v"), ErrBadProof, "other node")
	r6 := capture("GET", "/dump", "", nil)
	r6.Header.Del(AuthHeader)
	assert.ErrorIs(t, verify(r6, ""), ErrNoProof)
	r7 := capture("GET", "/dump", "", nil)
	r7.Header.Add(AuthHeader, r7.Header.Get(AuthHeader))
	assert.ErrorIs(t, verify(r7, ""), ErrBadProof, "two proofs")
	for _, bad := range []string{"", "v1", "v2 1 x", "v1 x " + strings.Repeat("A", 43), "v1 1 !!!", "v1 1 AAAA"} {
		r := capture("GET", "/dump", "", nil)
		r.Header.Set(AuthHeader, bad)
		assert.ErrorIs(t, verify(r, ""), ErrBadProof, "%q", bad)
	}
	r8 := capture("GET", "/dump", "", nil)
	clk.add(DefaultWindow + time.Second)
	assert.ErrorIs(t, verify(r8, ""), ErrStaleProof, "replayed after the window")
	stranger := newRing(t, clk, key(3))
	r9 := httptest.NewRequest("GET", "/dump", nil)
	stranger.Sign(r9, sha256.Sum256(nil))
	assert.ErrorIs(t, server.Verify(r9, sha256.Sum256(nil)), ErrBadProof, "another cluster's key")
	assert.Equal(t, "stale", Reason(ErrStaleProof))
	assert.Equal(t, "", Reason(nil))
	assert.Equal(t, "bad_seal", Reason(errors.New("x")))
}
