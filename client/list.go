package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Bounds of a page of List, as the nodes apply them.
const (
	// DefaultListLimit is the keys in a page when ListOptions.Limit is 0.
	DefaultListLimit = 1000
	// MaxListLimit is the most keys in a page.
	MaxListLimit = 10000
)

// nextHeader carries a page's continuation (httpapi.NextHeader).
const nextHeader = "X-Diststore-Next"

// ListOptions choose a page of keys.
type ListOptions struct {
	// Prefix keeps the keys that start with it; "" keeps every key.
	Prefix string
	// After starts the page after this key: Page.Next of the page before.
	After string
	// Limit is the most keys in the page, 1 to MaxListLimit; 0 means
	// DefaultListLimit.
	Limit int
}

// Page is a page of keys, in order.
type Page struct {
	Keys []string
	// Next is the key the next page starts after (ListOptions.After), or
	// "" if this is the last page.
	Next string
	// Node is the host:port of the node that answered.
	Node string
}

// List returns a page of the keys the node that answers holds: on a
// master, every key of the cluster; on another node, those it holds or
// has cached. The next page goes to the same node first.
func (c *Client) List(ctx context.Context, opts ListOptions) (*Page, error) {
	if opts.Limit == 0 {
		opts.Limit = DefaultListLimit
	}
	if opts.Limit < 0 || opts.Limit > MaxListLimit {
		return nil, fmt.Errorf("list: %w: limit %d: want 1 to %d", ErrBadRequest, opts.Limit, MaxListLimit)
	}
	q := url.Values{"limit": {strconv.Itoa(opts.Limit)}}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	a, err := c.do(ctx, call{op: "list", method: http.MethodGet, path: "/list?" + q.Encode(), limit: c.maxValue})
	if err != nil {
		return nil, err
	}
	p := &Page{Node: a.node}
	for _, k := range strings.Split(string(a.body), "\n") {
		if k = strings.TrimSuffix(k, "\r"); k != "" {
			p.Keys = append(p.Keys, k)
		}
	}
	if h := a.header.Get(nextHeader); h != "" {
		next, err := url.QueryUnescape(h)
		if err != nil {
			return nil, fmt.Errorf("list: node %s answered a bad %s %q: %w", a.node, nextHeader, h, err)
		}
		p.Next = next
	}
	return p, nil
}

// Keys returns every key with prefix that the node that answers holds,
// in order, a page at a time (List). It stops at the first error, which
// it yields with an empty key.
func (c *Client) Keys(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		opts := ListOptions{Prefix: prefix}
		for {
			p, err := c.List(ctx, opts)
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range p.Keys {
				if !yield(k, nil) {
					return
				}
			}
			if p.Next == "" {
				return
			}
			opts.After = p.Next
		}
	}
}
