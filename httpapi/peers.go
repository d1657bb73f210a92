package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/repl"
	"github.com/diststore/diststore/store"
)

// The node-to-node protocol. The Server answers these paths; a PeerClient
// asks them. A key follows a key path in its wire form (store.WireKey),
// which is also how the original pydiststore's nodes hold a key sent
// escaped.
const (
	// pathLocal: POST stores, DELETE deletes, on the node itself. With
	// VersionHeader it is a write forwarded to a master; without, a new
	// local write that the node decides (If-Match, If-None-Match).
	pathLocal = "/local/"
	// pathGetLocal: GET reads what the node itself holds.
	pathGetLocal = "/getlocal/"
	// pathDump: GET streams every entry the node holds (?values=0:
	// without values), in package cluster's dump format.
	pathDump = "/dump"
	// pathDigest: GET answers the node's cluster.Digest as JSON.
	pathDigest = "/digest"
	// pathHealth: GET answers 200 while the node serves at all.
	pathHealth = "/healthz"
)

// Headers of the node-to-node protocol and the client API, all in
// canonical form.
const (
	// ExistedHeader answers a delete (DELETE /<key>, POST /delete/<key>,
	// the form's delete): "true" if the key was live when the deciding
	// master took the delete, "false" if it was not (the answer is 200
	// either way, as the original's). Absent when no master could tell in
	// time.
	ExistedHeader = "X-Diststore-Existed"
	// VersionHeader carries a value's version between nodes and to
	// clients.
	VersionHeader = "X-Diststore-Version"
	// ExpiresHeader carries a value's expiry, Unix milliseconds.
	ExpiresHeader = "X-Diststore-Expires"
	// EpochHeader carries the writer's master epoch, so a node that is no
	// longer master can refuse a write meant for a master.
	EpochHeader = "X-Diststore-Epoch"
)

// Defaults of PeerOptions.
const (
	DefaultPeerDialTimeout     = time.Second
	DefaultPeerResponseTimeout = 5 * time.Second
	DefaultPeerRequestTimeout  = 10 * time.Second
)

// PeerOptions configure a PeerClient.
type PeerOptions struct {
	// MaxValueSize is the largest value in bytes Fetch accepts; a larger
	// one is cluster.ErrTooLarge. 0 means cluster.DefaultMaxValueSize.
	MaxValueSize int64
	// DialTimeout bounds connecting to a node. 0 means
	// DefaultPeerDialTimeout.
	DialTimeout time.Duration
	// ResponseTimeout bounds the wait for a response's headers once the
	// request is sent, a dump's included. 0 means
	// DefaultPeerResponseTimeout.
	ResponseTimeout time.Duration
	// RequestTimeout bounds a whole request, body included, except a
	// dump, which only its context bounds. 0 means
	// DefaultPeerRequestTimeout.
	RequestTimeout time.Duration
	// Transport, when set, carries the requests instead of the pooled
	// transport built with DialTimeout and ResponseTimeout.
	Transport http.RoundTripper
	// Ring, when set, signs every request with the cluster key, as the
	// other nodes' Servers require, and authenticates the replication
	// streams.
	Ring *clusterkey.Ring
	// NoStreams sends every forwarded write as a request of its own
	// (POST /local), as before replication streams; otherwise a write
	// whose value is at most repl.MaxStreamValue goes on the stream to
	// its master (package repl), to a node that serves one.
	NoStreams bool
	// Stream configures the replication streams; zero fields mean
	// package repl's defaults, but AckTimeout defaults to
	// ResponseTimeout.
	Stream repl.ClientOptions
}

// PeerClient is the HTTP implementation of cluster.Peers: the pooled
// client a node talks to the others with.
type PeerClient struct {
	client   *http.Client // every request but a dump
	dump     *http.Client // no overall timeout: a dump may be long
	maxValue int64
	opts     PeerOptions
	streams  *repl.Pool // nil with NoStreams
}

var _ cluster.Peers = (*PeerClient)(nil)

// NewPeerClient returns a PeerClient; it fails only on a negative option.
func NewPeerClient(opts PeerOptions) (*PeerClient, error) {
	if opts.MaxValueSize < 0 || opts.DialTimeout < 0 || opts.ResponseTimeout < 0 || opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("%w: negative peer max value size or timeout", cluster.ErrBadConfig)
	}
	if opts.MaxValueSize == 0 {
		opts.MaxValueSize = cluster.DefaultMaxValueSize
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultPeerDialTimeout
	}
	if opts.ResponseTimeout == 0 {
		opts.ResponseTimeout = DefaultPeerResponseTimeout
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultPeerRequestTimeout
	}
	tr := opts.Transport
	if tr == nil {
		tr = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: opts.ResponseTimeout,
			DisableCompression:    true,
		}
	}
	if opts.Ring != nil {
		tr = opts.Ring.Transport(tr)
	}
	if opts.Stream.AckTimeout == 0 {
		opts.Stream.AckTimeout = opts.ResponseTimeout
	}
	c := &PeerClient{
		client:   &http.Client{Transport: tr, Timeout: opts.RequestTimeout},
		dump:     &http.Client{Transport: tr},
		maxValue: opts.MaxValueSize,
		opts:     opts,
	}
	if !opts.NoStreams {
		c.streams = repl.NewPool(c.dialStream, opts.Stream)
	}
	return c, nil
}

// Close ends the replication streams, waiting for their goroutines, and
// closes the client's idle connections. Requests still work; forwarded
// writes go as requests from then on.
func (c *PeerClient) Close() error {
	if c.streams != nil {
		_ = c.streams.Close()
	}
	c.client.CloseIdleConnections()
	return nil
}

func peerURL(to netip.AddrPort, path string) string {
	return "http://" + to.String() + path
}

// Forward stores e under key on the node at to: POST /local/<key>, or
// DELETE /local/<key> for a tombstone, with its version and the writer's
// epoch. A network error means the node could not be reached; an HTTP
// error status is one of cluster.ErrNotMaster, ErrPrecondition or
// ErrMasterRefused.
func (c *PeerClient) Forward(ctx context.Context, to netip.AddrPort, key string, e store.Entry, epoch uint64) (store.Version, error) {
	if c.streams != nil && streamable(e) {
		v, ok, err := c.forwardStream(ctx, to, key, e, epoch)
		if ok {
			return v, err
		}
	}
	req, err := writeRequest(ctx, to, key, e)
	if err != nil {
		return store.Version{}, err
	}
	req.Header.Set(VersionHeader, e.Version.String())
	req.Header.Set(EpochHeader, strconv.FormatUint(epoch, 10))
	h, err := c.doWrite(req, to)
	if err != nil {
		return store.Version{}, err
	}
	held, err := store.ParseVersion(h.Get(VersionHeader))
	if err != nil {
		return store.Version{}, fmt.Errorf("%w: %s held no version: %v", cluster.ErrMasterRefused, to.Addr(), err)
	}
	return held, nil
}

// Decide asks the master at to to decide a conditional write: it checks
// cond against what it holds, versions e and stores it. It returns the
// version the master gave.
func (c *PeerClient) Decide(ctx context.Context, to netip.AddrPort, key string, e store.Entry, cond cluster.Condition) (store.Version, error) {
	req, err := writeRequest(ctx, to, key, e)
	if err != nil {
		return store.Version{}, err
	}
	switch {
	case cond.IfMatch != nil:
		req.Header.Set("If-Match", `"`+cond.IfMatch.String()+`"`)
	case cond.IfExists:
		req.Header.Set("If-Match", "*")
	}
	if cond.IfAbsent {
		req.Header.Set("If-None-Match", "*")
	}
	req.Header.Set(EpochHeader, strconv.FormatUint(cond.Epoch, 10))
	resp, err := c.doWrite(req, to)
	if err != nil {
		return store.Version{}, err
	}
	v, err := store.ParseVersion(resp.Get(VersionHeader))
	if err != nil {
		return store.Version{}, fmt.Errorf("%w: %s gave no version: %v", cluster.ErrMasterRefused, to.Addr(), err)
	}
	return v, nil
}

func writeRequest(ctx context.Context, to netip.AddrPort, key string, e store.Entry) (*http.Request, error) {
	method, body := http.MethodPost, io.Reader(bytes.NewReader(e.Value))
	if e.Deleted {
		method, body = http.MethodDelete, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, peerURL(to, pathLocal+store.WireKey(key)), body)
	if err != nil {
		return nil, fmt.Errorf("write to %s: %w", to.Addr(), err)
	}
	if e.Expires != 0 {
		req.Header.Set(ExpiresHeader, strconv.FormatInt(e.Expires, 10))
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// doWrite sends a write and maps the answer's status to an error.
func (c *PeerClient) doWrite(req *http.Request, to netip.AddrPort) (http.Header, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("write to %s: %w", to.Addr(), err)
	}
	defer drain(resp.Body)
	if resp.StatusCode/100 == 2 {
		return resp.Header, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return nil, writeErrorOf(resp.StatusCode, fmt.Sprintf("%s answered %s: %s", to.Addr(), resp.Status, bytes.TrimSpace(msg)))
}

// Fetch reads key from the node at to (GET /getlocal/<key>).
func (c *PeerClient) Fetch(ctx context.Context, to netip.AddrPort, key string) (store.Entry, error) {
	addr := to.Addr()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(to, pathGetLocal+store.WireKey(key)), nil)
	if err != nil {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, err)
	}
	defer drain(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, cluster.ErrNotFound)
	default:
		return store.Entry{}, fmt.Errorf("fetch from %s: %s", addr, resp.Status)
	}
	value, err := io.ReadAll(io.LimitReader(resp.Body, c.maxValue+1))
	if err != nil {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, err)
	}
	if int64(len(value)) > c.maxValue {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, cluster.ErrTooLarge)
	}
	var v store.Version
	if h := resp.Header.Get(VersionHeader); h != "" {
		if v, err = store.ParseVersion(h); err != nil {
			return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, err)
		}
	}
	e := store.Entry{Value: value, Version: v}
	if h := resp.Header.Get(ExpiresHeader); h != "" {
		if e.Expires, err = strconv.ParseInt(h, 10, 64); err != nil {
			return store.Entry{}, fmt.Errorf("fetch from %s: bad %s %q", addr, ExpiresHeader, h)
		}
	}
	return e, nil
}

// Dump opens the stream of every entry the node at to holds (GET /dump).
func (c *PeerClient) Dump(ctx context.Context, to netip.AddrPort, values bool) (io.ReadCloser, error) {
	path := pathDump
	if !values {
		path += "?values=0"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(to, path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.dump.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		drain(resp.Body)
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return resp.Body, nil
}

// Probe checks that the node at to answers GET /healthz.
func (c *PeerClient) Probe(ctx context.Context, to netip.AddrPort) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(to, pathHealth), nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// Digest reads the cluster.Digest of the node at to (GET /digest).
func (c *PeerClient) Digest(ctx context.Context, to netip.AddrPort) (cluster.Digest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(to, pathDigest), nil)
	if err != nil {
		return cluster.Digest{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return cluster.Digest{}, err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return cluster.Digest{}, fmt.Errorf("%s", resp.Status)
	}
	var d cluster.Digest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&d); err != nil {
		return cluster.Digest{}, fmt.Errorf("decode digest: %w", err)
	}
	return d, nil
}

// drain reads a little of what is left of a body so the connection can be
// reused, then closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// ListOriginal reads GET /list of a node of the original pydiststore, a
// line at a time, and hands each line to fn as it is.
func (c *PeerClient) ListOriginal(ctx context.Context, to netip.AddrPort, fn func(token string) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(to, "/list"), nil)
	if err != nil {
		return err
	}
	resp, err := c.dump.Do(req) // no overall timeout but ctx's: a list may be long
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("list of %s: %s", to.Addr(), resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), store.MaxWireKeyLen+2)
	for sc.Scan() {
		tok := strings.TrimSpace(sc.Text())
		if tok == "" {
			continue
		}
		if err := fn(tok); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("list of %s: %w", to.Addr(), err)
	}
	return nil
}

// FetchOriginal reads GET /getlocal/<token> of a node of the original
// pydiststore, the token in the path as that node listed it.
func (c *PeerClient) FetchOriginal(ctx context.Context, to netip.AddrPort, token string) ([]byte, error) {
	for i := 0; i < len(token); i++ {
		if b := token[i]; b <= ' ' || b == 0x7f || b == '#' {
			return nil, fmt.Errorf("fetch from %s: key %.40q cannot be sent in a path as it is", to.Addr(), token)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+to.String()+"/", nil)
	if err != nil {
		return nil, err
	}
	req.URL.Opaque = pathGetLocal + token // as listed, never escaped again
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch from %s: %w", to.Addr(), err)
	}
	defer drain(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("fetch from %s: %w", to.Addr(), cluster.ErrNotFound)
	default:
		return nil, fmt.Errorf("fetch from %s: %s", to.Addr(), resp.Status)
	}
	value, err := io.ReadAll(io.LimitReader(resp.Body, c.maxValue+1))
	if err != nil {
		return nil, fmt.Errorf("fetch from %s: %w", to.Addr(), err)
	}
	if int64(len(value)) > c.maxValue {
		return nil, fmt.Errorf("fetch from %s: %w", to.Addr(), cluster.ErrTooLarge)
	}
	return value, nil
}
