package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/diststore/diststore/store"
)

// VersionHeader carries a value's version between nodes and to clients.
const VersionHeader = "X-Diststore-Version"

// peerClient is the pooled HTTP client a node uses to talk to others.
type peerClient struct {
	client   *http.Client
	maxValue int64
}

func newPeerClient(cfg Config) *peerClient {
	var tr http.RoundTripper = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		DisableCompression:    true,
	}
	if cfg.HTTPTransport != nil {
		tr = cfg.HTTPTransport
	}
	return &peerClient{
		client:   &http.Client{Transport: tr, Timeout: 10 * time.Second},
		maxValue: cfg.MaxValueSize,
	}
}

func (c *peerClient) close() { c.client.CloseIdleConnections() }

func peerURL(addr netip.Addr, port int, path string) string {
	return "http://" + netip.AddrPortFrom(addr, uint16(port)).String() + path
}

// Headers of node-to-node writes, beside VersionHeader.
const (
	// ExpiresHeader carries a value's expiry, Unix milliseconds.
	ExpiresHeader = "X-Diststore-Expires"
	// EpochHeader carries the writer's master epoch, so a node that is no
	// longer master can refuse a write meant for a master.
	EpochHeader = "X-Diststore-Epoch"
)

// forward stores e under key on the node at addr: POST /local/<key>, or
// DELETE /local/<key> for a tombstone, with its version. A network error
// means the node could not be reached; an HTTP error status is one of
// ErrNotMaster, ErrPrecondition or ErrMasterRefused.
func (c *peerClient) forward(ctx context.Context, addr netip.Addr, port int, key string, e store.Entry, epoch uint64) error {
	req, err := writeRequest(ctx, addr, port, key, e)
	if err != nil {
		return err
	}
	req.Header.Set(VersionHeader, e.Version.String())
	req.Header.Set(EpochHeader, strconv.FormatUint(epoch, 10))
	_, err = c.doWrite(req, addr)
	return err
}

// decide asks the master at addr to decide a conditional write: it checks
// cond against what it holds, versions e and stores it. It returns the
// version the master gave.
func (c *peerClient) decide(ctx context.Context, addr netip.Addr, port int, key string, e store.Entry, cond Condition) (store.Version, error) {
	req, err := writeRequest(ctx, addr, port, key, e)
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
	resp, err := c.doWrite(req, addr)
	if err != nil {
		return store.Version{}, err
	}
	v, err := store.ParseVersion(resp.Get(VersionHeader))
	if err != nil {
		return store.Version{}, fmt.Errorf("%w: %s gave no version: %v", ErrMasterRefused, addr, err)
	}
	return v, nil
}

func writeRequest(ctx context.Context, addr netip.Addr, port int, key string, e store.Entry) (*http.Request, error) {
	method, body := http.MethodPost, io.Reader(bytes.NewReader(e.Value))
	if e.Deleted {
		method, body = http.MethodDelete, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, peerURL(addr, port, "/local/"+url.PathEscape(key)), body)
	if err != nil {
		return nil, fmt.Errorf("write to %s: %w", addr, err)
	}
	if e.Expires != 0 {
		req.Header.Set(ExpiresHeader, strconv.FormatInt(e.Expires, 10))
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// doWrite sends a write and maps the answer's status to an error.
func (c *peerClient) doWrite(req *http.Request, addr netip.Addr) (http.Header, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("write to %s: %w", addr, err)
	}
	defer drain(resp.Body)
	if resp.StatusCode/100 == 2 {
		return resp.Header, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	why := fmt.Sprintf("%s answered %s: %s", addr, resp.Status, bytes.TrimSpace(msg))
	switch resp.StatusCode {
	case http.StatusPreconditionFailed:
		return nil, fmt.Errorf("%w (%s)", ErrPrecondition, why)
	case http.StatusConflict:
		return nil, fmt.Errorf("%w (%s)", ErrNotMaster, why)
	}
	return nil, fmt.Errorf("%w: %s", ErrMasterRefused, why)
}

// fetch reads key from the node at addr (GET /getlocal/<key>).
func (c *peerClient) fetch(ctx context.Context, addr netip.Addr, port int, key string) (store.Entry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		peerURL(addr, port, "/getlocal/"+url.PathEscape(key)), nil)
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
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, ErrNotFound)
	default:
		return store.Entry{}, fmt.Errorf("fetch from %s: %s", addr, resp.Status)
	}
	value, err := io.ReadAll(io.LimitReader(resp.Body, c.maxValue+1))
	if err != nil {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, err)
	}
	if int64(len(value)) > c.maxValue {
		return store.Entry{}, fmt.Errorf("fetch from %s: %w", addr, ErrTooLarge)
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

// dump opens the stream of every entry the node at addr holds.
func (c *peerClient) dump(ctx context.Context, addr netip.Addr, port int, values bool) (io.ReadCloser, error) {
	path := "/dump"
	if !values {
		path += "?values=0"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(addr, port, path), nil)
	if err != nil {
		return nil, err
	}
	// The dump can be long: no overall client timeout, the context bounds it.
	resp, err := (&http.Client{Transport: c.client.Transport}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		drain(resp.Body)
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return resp.Body, nil
}

// probe checks that the node at addr answers GET /healthz.
func (c *peerClient) probe(ctx context.Context, addr netip.Addr, port int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(addr, port, "/healthz"), nil)
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

// digest reads the Digest of the node at addr (GET /digest).
func (c *peerClient) digest(ctx context.Context, addr netip.Addr, port int) (Digest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(addr, port, "/digest"), nil)
	if err != nil {
		return Digest{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return Digest{}, err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Digest{}, fmt.Errorf("%s", resp.Status)
	}
	var d Digest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&d); err != nil {
		return Digest{}, fmt.Errorf("decode digest: %w", err)
	}
	return d, nil
}

// drain reads a little of what is left of a body so the connection can be
// reused, then closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
