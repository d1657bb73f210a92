package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/diststore/diststore/internal/nodecfg"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds one request to one node.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxValueSize is the most read of a value or an answer.
	DefaultMaxValueSize = 64 << 20
	// maxMessageSize is the most read of an error's or a write's answer.
	maxMessageSize = 4 << 10
	// maxStatusSize is the most read of a status: 4096 members fit.
	maxStatusSize = 8 << 20
)

// Config configures a Client.
type Config struct {
	// Nodes are the nodes to talk to, tried in this order: http://host:port,
	// host:port, or host (port 8181). At least one. They need not be all
	// of the cluster's: one node serves every key.
	Nodes []string
	// Token is the client token sent as "Authorization: Bearer", for a
	// cluster that requires one; "" sends none.
	Token string
	// Timeout bounds one request to one node, reading the answer included
	// (for the streams of OpenBackup and Restore: each wait for bytes). 0
	// means DefaultTimeout; a negative value means none: only the context
	// bounds a request.
	Timeout time.Duration
	// MaxValueSize is the most read of a value or a listing, in bytes;
	// larger is ErrAnswerTooLarge. 0 means DefaultMaxValueSize.
	MaxValueSize int64
	// UserAgent is sent with every request; "" means "diststore-client".
	UserAgent string
	// Transport carries the requests; nil means a pooled transport of its
	// own that uses no proxy (nodes are on the LAN) and marks a refused
	// connection, so that a conditional write can go to the next node.
	Transport http.RoundTripper
}

// Client talks to the nodes of one cluster. It is safe for concurrent
// use. Close it to release its idle connections.
type Client struct {
	nodes     []*url.URL // base URLs: scheme and host:port
	token     string
	timeout   time.Duration // 0: none
	maxValue  int64
	userAgent string
	http      *http.Client
	// pref is the index of the node that answered last: the first tried.
	pref atomic.Int32
}

// New returns a client of the nodes cfg names.
func New(cfg Config) (*Client, error) {
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("client: no node given")
	}
	c := &Client{token: cfg.Token, timeout: cfg.Timeout, maxValue: cfg.MaxValueSize, userAgent: cfg.UserAgent}
	for _, n := range cfg.Nodes {
		u, err := nodecfg.ParseNode(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("client: node %q: %w", n, err)
		}
		c.nodes = append(c.nodes, u)
	}
	switch {
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	case c.timeout < 0:
		c.timeout = 0
	}
	if c.maxValue <= 0 {
		c.maxValue = DefaultMaxValueSize
	}
	if c.userAgent == "" {
		c.userAgent = "diststore-client"
	}
	tr := cfg.Transport
	if tr == nil {
		dialer := &net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
		tr = &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, &dialError{err}
				}
				return conn, nil
			},
			TLSHandshakeTimeout:   c.timeout,
			ResponseHeaderTimeout: c.timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
		}
	}
	c.http = &http.Client{
		Transport: tr,
		// The API never redirects but a browser's form: a redirect is an
		// answer to report, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Close releases the client's idle connections. The client stays usable.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Nodes returns the nodes the client talks to, as base URLs.
func (c *Client) Nodes() []string {
	out := make([]string, len(c.nodes))
	for i, u := range c.nodes {
		out[i] = u.String()
	}
	return out
}

// retry says when a failed request goes on to the next node.
type retry uint8

const (
	// retryAny: after any failure, a read or an idempotent write.
	retryAny retry = iota
	// retryNotSent: only if the request never left; a conditional write.
	retryNotSent
)

// call is one request of the API.
type call struct {
	op     string      // what the caller asked, for messages: `get "k"`
	method string      // GET, POST, DELETE
	path   string      // escaped path and query: /get/k%2Fx?ttl=30s
	header http.Header // extra headers, may be nil
	body   []byte      // sent as is when not nil
	limit  int64       // most bytes read of a 2xx answer's body
	retry  retry
}

// answer is a 2xx answer, read whole.
type answer struct {
	node   string // host:port of the node that answered
	header http.Header
	body   []byte
}

// keyPath returns prefix followed by key escaped as one path segment, so
// that a key holding "/" stays one key.
func keyPath(prefix, key string) string { return prefix + url.PathEscape(key) }

// do sends cl to the node that answered last, then to the others in
// turn, as cl.retry allows, and returns the first 2xx answer. A decided
// answer (4xx) ends it at once. With one node its error is returned as
// it is; with several, a *FailedError of all of them.
func (c *Client) do(ctx context.Context, cl call) (*answer, error) {
	first := int(c.pref.Load())
	var errs []error
	for i := range c.nodes {
		idx := (first + i) % len(c.nodes)
		a, err := c.attempt(ctx, c.nodes[idx], cl)
		if err == nil {
			c.pref.Store(int32(idx))
			return a, nil
		}
		if ctx.Err() != nil {
			return nil, err // the caller gave up: no other node either
		}
		var se *StatusError
		if errors.As(err, &se) && se.decided() || errors.Is(err, ErrAnswerTooLarge) {
			return nil, err
		}
		var re *ReachError
		if cl.retry == retryNotSent && !(errors.As(err, &re) && re.notSent()) {
			errs = append(errs, err)
			return nil, &OutcomeError{Err: joined(errs)}
		}
		errs = append(errs, err)
	}
	return nil, joined(errs)
}

// joined is err alone, or a *FailedError of several.
func joined(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return &FailedError{Errs: errs}
}

// attempt sends cl to the node at base and reads its answer, within the
// client's timeout. A non-2xx answer is a *StatusError; a node that
// cannot be reached, or whose answer cannot be read, a *ReachError.
func (c *Client) attempt(ctx context.Context, base *url.URL, cl call) (*answer, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, base.String()+cl.path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cl.op, err)
	}
	c.setHeaders(req, cl.header)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &ReachError{URL: base.String(), Err: err, Timeout: c.timeout}
	}
	defer resp.Body.Close()
	if err := statusError(cl.op, base.Host, resp); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, cl.limit+1))
	if err != nil {
		return nil, &ReachError{URL: base.String(), Err: err, Timeout: c.timeout, Reading: true}
	}
	if int64(len(data)) > cl.limit {
		return nil, &tooLargeError{op: cl.op, node: base.Host, limit: cl.limit}
	}
	return &answer{node: base.Host, header: resp.Header, body: data}, nil
}

// setHeaders sets the headers every request carries, then extra.
func (c *Client) setHeaders(req *http.Request, extra http.Header) {
	for k, vs := range extra {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// statusError returns a *StatusError for an answer other than 2xx, having
// read the first bytes of its message; nil for a 2xx.
func statusError(op, node string, resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxMessageSize))
	text := firstLine(msg, resp.StatusCode)
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		text = "redirect to " + oneLine(loc) // the body is HTML for a browser
	}
	return &StatusError{Op: op, Node: node, Code: resp.StatusCode, Msg: text, ETag: resp.Header.Get("ETag")}
}

// tooLargeError is an answer larger than the client reads.
type tooLargeError struct {
	op, node string
	limit    int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s: node %s answered more than %s", e.op, e.node, sizeString(e.limit))
}

// Is makes a tooLargeError an ErrAnswerTooLarge.
func (e *tooLargeError) Is(target error) bool { return target == ErrAnswerTooLarge }
