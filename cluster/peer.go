package cluster

import (
	"bytes"
	"context"
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
	client       *http.Client
	maxValue     int64
	fetchTimeout time.Duration
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
		client:       &http.Client{Transport: tr, Timeout: 10 * time.Second},
		maxValue:     cfg.MaxValueSize,
		fetchTimeout: 5 * time.Second,
	}
}

func (c *peerClient) close() { c.client.CloseIdleConnections() }

func peerURL(addr netip.Addr, port int, path string) string {
	return "http://" + netip.AddrPortFrom(addr, uint16(port)).String() + path
}

// forward stores e under key on the node at addr (POST /local/<key>).
// A network error means the node could not be reached; an HTTP error
// status is ErrMasterRefused.
func (c *peerClient) forward(ctx context.Context, addr netip.Addr, port int, key string, e store.Entry) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		peerURL(addr, port, "/local/"+url.PathEscape(key)), bytes.NewReader(e.Value))
	if err != nil {
		return fmt.Errorf("forward to %s: %w", addr, err)
	}
	req.Header.Set(VersionHeader, e.Version.String())
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("forward to %s: %w", addr, err)
	}
	defer drain(resp.Body)
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("%w: %s answered %s: %s", ErrMasterRefused, addr, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
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
	if resp.StatusCode != http.StatusOK {
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
	return store.Entry{Value: value, Version: v}, nil
}

// dump opens the stream of every entry the node at addr holds.
func (c *peerClient) dump(ctx context.Context, addr netip.Addr, port int) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL(addr, port, "/dump"), nil)
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

// drain reads a little of what is left of a body so the connection can be
// reused, then closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// parseLen parses a decimal length no larger than limit.
func parseLen(s string, limit int64) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > limit {
		return 0, fmt.Errorf("bad length %q", s)
	}
	return v, nil
}
