package clusterkey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// AuthHeader carries a node-to-node request's proof of the key:
// "v1 <Unix milliseconds> <HMAC-SHA256, unpadded base64url>".
const AuthHeader = "X-Diststore-Auth"

// signedHeaders are the request headers a proof covers, besides the
// method, the host, the path and query, the timestamp and the body.
var signedHeaders = []string{
	"X-Diststore-Version", "X-Diststore-Expires", "X-Diststore-Epoch",
	"If-Match", "If-None-Match", "Content-Type",
}

// Why a request's proof was refused, checked with errors.Is; Reason
// gives their metrics labels.
var (
	// ErrNoProof: the request carries no AuthHeader.
	ErrNoProof = &OpenError{"missing", "no proof of the cluster key (" + AuthHeader + ")"}
	// ErrBadProof: malformed, or no key gives its HMAC.
	ErrBadProof = &OpenError{"bad_proof", "bad proof of the cluster key"}
	// ErrStaleProof: its timestamp is outside the window.
	ErrStaleProof = &OpenError{"stale", "proof of the cluster key outside the time window"}
)

// mac returns the HMAC of a request under key.
func mac(key []byte, method, host, uri, ts string, h http.Header, body [sha256.Size]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, s := range []string{"diststore http v1", method, host, uri, ts} {
		io.WriteString(m, s)
		m.Write([]byte{'\n'})
	}
	for _, name := range signedHeaders {
		// One value each: a header sent twice is refused by the server's
		// handlers anyway, and Values keeps both in the proof.
		io.WriteString(m, name+":"+strings.Join(h.Values(name), ",")+"\n")
	}
	m.Write(body[:])
	return m.Sum(nil)
}

// Sign adds the proof of the key to req, whose body has the SHA-256
// body. It covers what the client sends: req.Host (or the URL's host),
// the URL's request URI and the signed headers as they are now.
func (r *Ring) Sign(req *http.Request, body [sha256.Size]byte) {
	k := (*r.keys.Load())[0]
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	ts := strconv.FormatInt(r.now().UnixMilli(), 10)
	sum := mac(k.mac, req.Method, host, req.URL.RequestURI(), ts, req.Header, body)
	req.Header.Set(AuthHeader, "v1 "+ts+" "+base64.RawURLEncoding.EncodeToString(sum))
}

// Verify checks the proof of the key of req, a request a server received
// whose body has the SHA-256 body. The error is one of ErrNoProof,
// ErrBadProof and ErrStaleProof.
func (r *Ring) Verify(req *http.Request, body [sha256.Size]byte) error {
	vals := req.Header.Values(AuthHeader)
	if len(vals) == 0 {
		return ErrNoProof
	}
	if len(vals) > 1 {
		return ErrBadProof
	}
	f := strings.Fields(vals[0])
	if len(f) != 3 || f[0] != "v1" {
		return ErrBadProof
	}
	ms, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return ErrBadProof
	}
	got, err := base64.RawURLEncoding.DecodeString(f[2])
	if err != nil || len(got) != sha256.Size {
		return ErrBadProof
	}
	if !r.fresh(ms) {
		return ErrStaleProof
	}
	for _, k := range *r.keys.Load() {
		if hmac.Equal(got, mac(k.mac, req.Method, req.Host, req.RequestURI, f[1], req.Header, body)) {
			return nil
		}
	}
	return ErrBadProof
}

// Transport returns a RoundTripper that signs every request with the
// ring, then sends it with base.
func (r *Ring) Transport(base http.RoundTripper) http.RoundTripper {
	return &signer{ring: r, base: base}
}

type signer struct {
	ring *Ring
	base http.RoundTripper
}

func (s *signer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		// RoundTrip closes the body it was given, whatever happens; base
		// gets a fresh one.
		defer req.Body.Close()
	}
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, fmt.Errorf("sign %s %s: the body cannot be read twice", req.Method, req.URL.Path)
		}
		rc, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("sign %s %s: %w", req.Method, req.URL.Path, err)
		}
		body, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("sign %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	out := req.Clone(req.Context())
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.ring.Sign(out, sha256.Sum256(body))
	return s.base.RoundTrip(out)
}

// CloseIdleConnections closes base's idle connections, as
// http.Client.CloseIdleConnections expects of a transport.
func (s *signer) CloseIdleConnections() {
	if c, ok := s.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
