package httpapi

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/diststore/diststore/clusterkey"
)

// Who may do what. With a cluster key, the node-to-node routes (/local,
// /dump, /digest) take only requests that prove the key; a request that
// proves it may do anything. With client tokens, every other route but
// /healthz and /readyz needs a token: a read-only one for what reads, a
// read-write one for what writes. Without either, everything is open, as
// in the original.

// errUnauthorized: the request lacks a credential the route needs, or
// carries a wrong one.
var errUnauthorized = errors.New("unauthorized")

// errReadOnly: a read-only token on a route that writes.
var errReadOnly = errors.New("forbidden: a read-only token cannot write")

// Role is what a client token allows.
type Role uint8

// Roles of client tokens.
const (
	RoleNone      Role = iota
	RoleReadOnly       // "ro": every route that reads
	RoleReadWrite      // "rw": every client route
)

// minTokenLen is the shortest token accepted: 16 characters of
// `diststore keygen` output carry 96 bits.
const minTokenLen = 16

// Tokens are the client tokens of a node: read from a file, replaced
// whole by Reload. Safe for concurrent use.
type Tokens struct {
	path  string
	roles atomic.Pointer[map[[sha256.Size]byte]Role] // by the token's SHA-256
}

// LoadTokens reads a token file: one token per line, "ro <token>" or
// "rw <token>"; blank lines and lines starting with # are ignored. The
// file must not be readable by other users (clusterkey.ReadSecretFile).
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the token file again; on an error the tokens in use stay.
func (t *Tokens) Reload() error {
	data, err := clusterkey.ReadSecretFile(t.path)
	if err != nil {
		return fmt.Errorf("client token file: %w", err)
	}
	roles, err := ParseTokens(data)
	if err != nil {
		return fmt.Errorf("client token file %s: %w", t.path, err)
	}
	t.roles.Store(&roles)
	return nil
}

// ParseTokens parses a token file's contents.
func ParseTokens(data []byte) (map[[sha256.Size]byte]Role, error) {
	roles := make(map[[sha256.Size]byte]Role)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		// A token is a secret: errors name the line, never its text.
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"ro <token>\" or \"rw <token>\"", line)
		}
		var role Role
		switch f[0] {
		case "ro":
			role = RoleReadOnly
		case "rw":
			role = RoleReadWrite
		default:
			return nil, fmt.Errorf("line %d: role must be ro or rw", line)
		}
		if len(f[1]) < minTokenLen {
			return nil, fmt.Errorf("line %d: token shorter than %d characters", line, minTokenLen)
		}
		h := sha256.Sum256([]byte(f[1]))
		if _, dup := roles[h]; dup {
			return nil, fmt.Errorf("line %d: token given twice", line)
		}
		roles[h] = role
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		return nil, errors.New("no token")
	}
	return roles, nil
}

// role returns the role of the token r carries: Authorization: Bearer
// <token>, or Basic with the token as password (what a browser sends
// after asking for it), RoleNone if none or unknown.
func (t *Tokens) role(r *http.Request) Role {
	h := r.Header.Get("Authorization")
	var tok string
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok = strings.TrimSpace(h[len("Bearer "):])
	case strings.HasPrefix(h, "Basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len("Basic "):]))
		if err != nil {
			return RoleNone
		}
		_, tok, _ = strings.Cut(string(raw), ":")
	default:
		return RoleNone
	}
	// The map is keyed by hashes: a lookup leaks nothing about a token
	// through its timing.
	return (*t.roles.Load())[sha256.Sum256([]byte(tok))]
}

// access says what rt needs.
type access uint8

const (
	accessOpen  access = iota // anyone
	accessRead                // a token (ro or rw), or the key's proof
	accessWrite               // an rw token, or the key's proof
	accessNode                // the key's proof, when there is a key
)

// accessOf is what each route needs.
var accessOf = [numRoutes]access{
	routeHealthz: accessOpen,
	routeReadyz:  accessOpen,

	routeOther:    accessRead,
	routePage:     accessRead,
	routeLookup:   accessRead,
	routeList:     accessRead,
	routeStatus:   accessRead,
	routeMetrics:  accessRead,
	routeGet:      accessRead,
	routeGetLocal: accessRead,

	routeForm:       accessWrite,
	routeDeleteForm: accessWrite,
	routeDeleteKey:  accessWrite,
	routePut:        accessWrite,
	routeDelete:     accessWrite,

	// A backup is every value at once, and a restore writes many keys:
	// an operator's, so the read-write token.
	routeBackup:  accessWrite,
	routeRestore: accessWrite,

	routeLocal:     accessNode,
	routeDump:      accessNode,
	routeDigest:    accessNode,
	routeReplicate: accessNode,
}

// authorize checks r's credentials for rt. A request that proves the
// cluster key gets its body read (the proof covers it) and replaced.
func (s *Server) authorize(rt route, w http.ResponseWriter, r *http.Request) error {
	need := accessOf[rt]
	ring, tokens := s.opts.Ring, s.opts.Tokens
	if ring != nil && (need == accessNode || r.Header.Get(clusterkey.AuthHeader) != "") {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxValueSize))
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := ring.Verify(r, sha256.Sum256(body)); err != nil {
			s.met.refused(clusterkey.Reason(err))
			return fmt.Errorf("%w: %v", errUnauthorized, err)
		}
		return nil
	}
	if tokens == nil || need == accessOpen || need == accessNode {
		return nil // no tokens; or a node route without a key
	}
	switch role := tokens.role(r); {
	case role == RoleNone:
		s.met.refused("token")
		w.Header().Add("WWW-Authenticate", `Basic realm="diststore"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="diststore"`)
		return fmt.Errorf("%w: this node needs a client token (Authorization: Bearer <token>)", errUnauthorized)
	case role == RoleReadOnly && need == accessWrite:
		s.met.refused("read_only")
		return errReadOnly
	}
	return nil
}
