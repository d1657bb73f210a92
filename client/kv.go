package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Value is a key's value as a node served it.
type Value struct {
	Data []byte
	// ETag is the value's version as the node sends it, quoted: the etag
	// of CompareAndSwap and IfMatch.
	ETag string
	// Source is "local" (the node held it) or "peer" (it fetched it from
	// the cluster).
	Source string
	// Expires is when the key expires; zero if never.
	Expires time.Time
	// Node is the host:port of the node that answered.
	Node string
}

// Get returns the value of key. A node that does not hold the key asks
// the cluster for it; ErrNotFound if no node does.
func (c *Client) Get(ctx context.Context, key string) (*Value, error) {
	return c.get(ctx, "/get/", key)
}

// GetLocal returns the value of key only if the node that answers holds
// it, without asking the cluster; ErrNotFound otherwise. Which node that
// is depends on which answer: see the package doc.
func (c *Client) GetLocal(ctx context.Context, key string) (*Value, error) {
	return c.get(ctx, "/getlocal/", key)
}

func (c *Client) get(ctx context.Context, prefix, key string) (*Value, error) {
	op := fmt.Sprintf("get %q", key)
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	a, err := c.do(ctx, call{op: op, method: http.MethodGet, path: keyPath(prefix, key), limit: c.maxValue})
	if err != nil {
		return nil, err
	}
	v := &Value{Data: a.body, ETag: a.header.Get("ETag"), Source: a.header.Get("X-Diststore-Source"), Node: a.node}
	if ms, err := strconv.ParseInt(a.header.Get("X-Diststore-Expires"), 10, 64); err == nil && ms > 0 {
		v.Expires = time.UnixMilli(ms)
	}
	return v, nil
}

// WriteResult is what a node answered a write.
type WriteResult struct {
	// ETag is the version written, quoted as the node sends it.
	ETag string
	// Masters are the masters that hold the write.
	Masters []string
	// Message is the node's answer: "stored on 127.0.2.1, 127.0.2.2".
	Message string
	// Node is the host:port of the node that answered.
	Node string
	// Existed tells, for a Delete, whether the key existed when the
	// masters took the delete (X-Diststore-Existed); nil when the node
	// did not say: a write, an older node or the original, or no master
	// could tell in time.
	Existed *bool
}

// WriteOption changes a write.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ttl      time.Duration
	ifMatch  string // an ETag or "*"
	ifAbsent bool
}

// WithTTL makes the key expire everywhere after ttl (Put only).
func WithTTL(ttl time.Duration) WriteOption { return func(o *writeOptions) { o.ttl = ttl } }

// IfMatch writes only if the key's version is etag (as Value.ETag or
// WriteResult.ETag give it, quoted or not), or, with "*", only if the key
// exists; else ErrConditionFailed.
func IfMatch(etag string) WriteOption { return func(o *writeOptions) { o.ifMatch = etag } }

// IfAbsent stores only if the key does not exist; else
// ErrConditionFailed (Put only).
func IfAbsent() WriteOption { return func(o *writeOptions) { o.ifAbsent = true } }

// Put stores value under key on every master. See the package doc for
// which failures it tries again on another node.
func (c *Client) Put(ctx context.Context, key string, value []byte, opts ...WriteOption) (*WriteResult, error) {
	op := fmt.Sprintf("put %q", key)
	o := writeOpts(opts)
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	if o.ifMatch != "" && o.ifAbsent {
		return nil, fmt.Errorf("%s: %w: IfMatch and IfAbsent exclude each other", op, ErrBadRequest)
	}
	path := keyPath("/", key)
	if o.ttl < 0 {
		return nil, fmt.Errorf("%s: %w: negative TTL %s", op, ErrBadRequest, o.ttl)
	}
	if o.ttl > 0 {
		path += "?" + url.Values{"ttl": {o.ttl.String()}}.Encode()
	}
	if value == nil {
		value = []byte{}
	}
	return c.write(ctx, call{op: op, method: http.MethodPost, path: path, body: value}, o)
}

// CompareAndSwap stores value under key only if the key's version is
// still etag (Value.ETag of a Get): ErrConditionFailed if another write
// came first. It is Put with IfMatch(etag), never tried twice.
func (c *Client) CompareAndSwap(ctx context.Context, key, etag string, value []byte) (*WriteResult, error) {
	if etag == "" || etag == "*" {
		return nil, fmt.Errorf("compare-and-swap %q: %w: want the ETag of a value", key, ErrBadRequest)
	}
	return c.Put(ctx, key, value, IfMatch(etag))
}

// Delete deletes key on every master and every cached copy; deleting a
// key that does not exist succeeds, with WriteResult.Existed false.
// IfMatch is the one option it takes.
func (c *Client) Delete(ctx context.Context, key string, opts ...WriteOption) (*WriteResult, error) {
	op := fmt.Sprintf("delete %q", key)
	o := writeOpts(opts)
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	if o.ttl != 0 || o.ifAbsent {
		return nil, fmt.Errorf("%s: %w: a delete takes IfMatch only", op, ErrBadRequest)
	}
	return c.write(ctx, call{op: op, method: http.MethodDelete, path: keyPath("/", key)}, o)
}

func writeOpts(opts []WriteOption) writeOptions {
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// write sends a write with o's condition and reads the node's answer.
func (c *Client) write(ctx context.Context, cl call, o writeOptions) (*WriteResult, error) {
	cl.header = http.Header{}
	if o.ifMatch != "" {
		cl.header.Set("If-Match", QuoteETag(o.ifMatch))
		cl.retry = retryNotSent
	}
	if o.ifAbsent {
		cl.header.Set("If-None-Match", "*")
		cl.retry = retryNotSent
	}
	cl.limit = maxMessageSize
	a, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	r := &WriteResult{ETag: a.header.Get("ETag"), Message: strings.TrimRight(string(a.body), "\r\n"), Node: a.node}
	if e, err := strconv.ParseBool(a.header.Get("X-Diststore-Existed")); err == nil {
		r.Existed = &e
	}
	for _, m := range strings.Split(a.header.Get("X-Diststore-Masters"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			r.Masters = append(r.Masters, m)
		}
	}
	return r, nil
}

// QuoteETag returns etag as If-Match takes it: quoted, as a node sends
// it, unless it is already quoted, weak or "*". A shell eats the quotes
// of "v" unless they are escaped, so both forms are taken.
func QuoteETag(etag string) string {
	if etag == "*" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

// checkKey refuses an empty key before anything is sent: its path would
// name another route. The node checks the rest.
func checkKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("%s: %w: empty key", op, ErrBadRequest)
	}
	return nil
}
