package main

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
	"syscall"
	"time"

	"github.com/diststore/diststore/internal/cliout"
)

// Limits on what is read of an answer.
const (
	// maxValueSize is the most read of a value, a listing or a status,
	// and of a value read from stdin.
	maxValueSize = 64 << 20
	// maxMessageSize is the most read of an error's or a write's answer.
	maxMessageSize = 4 << 10
)

// client talks to one node's HTTP API.
type client struct {
	base    *url.URL      // http://host:port, no path
	timeout time.Duration // of one request, 0 = none
	token   string        // client token sent as Bearer, "" for none
	http    *http.Client
}

// newClient returns a client of the node at base whose requests give up
// after timeout (0: never). It uses no proxy, whatever the environment
// says: nodes are on the LAN. It does not follow redirects, which the API
// never answers with.
func newClient(base *url.URL, timeout time.Duration) *client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &client{
		base:    base,
		timeout: timeout,
		http: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// close releases the client's idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// node names the node in messages: host:port.
func (c *client) node() string { return c.base.Host }

// request is one call of the API.
type request struct {
	op     string      // what the user asked, for messages: `get "k"`
	method string      // GET, POST, DELETE
	path   string      // escaped path and query: /get/k%2Fx?ttl=30s
	header http.Header // extra headers, may be nil
	body   []byte      // sent as is when not nil
	limit  int64       // most bytes read of a 2xx answer's body
}

// response is a 2xx answer, read whole.
type response struct {
	header http.Header
	body   []byte
}

// keyPath returns prefix followed by key escaped as one path segment, so
// that a key holding "/" stays one key.
func keyPath(prefix, key string) string { return prefix + url.PathEscape(key) }

// do sends r and reads the answer. A non-2xx answer is a *nodeError; a
// node that cannot be reached, or whose answer cannot be read, a
// *reachError.
func (c *client) do(ctx context.Context, r request) (*response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base.String()+r.path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", "diststore/"+version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &reachError{URL: c.base.String(), Err: err, Timeout: c.timeout}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxMessageSize))
		text := firstLine(msg, resp.StatusCode)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			text = "redirect to " + cliout.OneLine(loc) // the body is HTML for a browser
		}
		return nil, &nodeError{Op: r.op, Node: c.node(), Code: resp.StatusCode, Msg: text}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.limit+1))
	if err != nil {
		return nil, &reachError{URL: c.base.String(), Err: err, Timeout: c.timeout, Reading: true}
	}
	if int64(len(data)) > r.limit {
		return nil, fmt.Errorf("%s: node %s answered more than %s", r.op, c.node(), sizeString(r.limit))
	}
	return &response{header: resp.Header, body: data}, nil
}

// nodeError is an answer other than 2xx.
type nodeError struct {
	Op   string // what the user asked: `get "k"`
	Node string // host:port
	Code int    // HTTP status
	Msg  string // the first line of the answer, or the status text
}

func (e *nodeError) Error() string {
	return fmt.Sprintf("%s: node %s answered %d: %s", e.Op, e.Node, e.Code, e.Msg)
}

// reachError is a node that could not be reached, or whose answer could
// not be read to its end.
type reachError struct {
	URL     string // the node's base URL
	Err     error  // as returned by net/http
	Reading bool   // the answer began but was cut short
	// Timeout is the client's timeout, named when it is what struck.
	Timeout time.Duration
}

func (e *reachError) Error() string {
	why := reason(e.Err)
	if why == "timed out" && e.Timeout > 0 {
		why += " after " + e.Timeout.String()
	}
	if e.Reading {
		return fmt.Sprintf("reading the answer of node %s: %s", e.URL, why)
	}
	return fmt.Sprintf("cannot reach node %s: %s", e.URL, why)
}

func (e *reachError) Unwrap() error { return e.Err }

// reason returns the part of a net/http error that says what went wrong,
// without the request it was about: "connection refused", "timed out".
func reason(err error) string {
	var errno syscall.Errno
	var dns *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed early"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// notFound marks a 404 from a node as errNotFound, for the exit code; it
// returns other errors as they are.
func notFound(err error) error {
	var ne *nodeError
	if errors.As(err, &ne) && ne.Code == http.StatusNotFound {
		return &notFoundError{err: err}
	}
	return err
}

// notFoundError is a 404 on a key: its message is the node's answer, and
// errors.Is(err, errNotFound) is true.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string   { return e.err.Error() }
func (e *notFoundError) Unwrap() []error { return []error{e.err, errNotFound} }

// firstLine returns the first non-empty line of an error answer, cleaned
// of control characters, or the status text if there is none.
func firstLine(body []byte, code int) string {
	for _, line := range strings.Split(string(body), "\n") {
		if line = cliout.OneLine(line); line != "" {
			return line
		}
	}
	if t := http.StatusText(code); t != "" {
		return strings.ToLower(t)
	}
	return "no message"
}

// sizeString formats n bytes for a message: 64 MiB, 4 KiB, 12 bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
