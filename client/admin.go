package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/diststore/diststore/api"
)

// Status is a node's view of the cluster (GET /status).
type Status struct {
	api.Status
	// Node is the host:port of the node that answered.
	Node string
	// JSON is the document as the node sent it.
	JSON []byte
}

// Status returns the view of the cluster of the node that answers.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	a, err := c.do(ctx, call{op: "status", method: http.MethodGet, path: "/status", limit: maxStatusSize})
	if err != nil {
		return nil, err
	}
	st := &Status{Node: a.node, JSON: a.body}
	if err := json.Unmarshal(a.body, &st.Status); err != nil {
		return nil, fmt.Errorf("status: node %s answered with unreadable JSON: %w", a.node, err)
	}
	return st, nil
}

// master returns the base URL of the master at addr: the scheme and port
// of the node that answered the status (every node serves one port).
func (c *Client) master(st *Status, addr string) (*url.URL, error) {
	base := c.nodes[c.pref.Load()]
	for _, u := range c.nodes {
		if u.Host == st.Node {
			base = u
		}
	}
	_, port, err := net.SplitHostPort(st.Node)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", st.Node, err)
	}
	return &url.URL{Scheme: base.Scheme, Host: net.JoinHostPort(addr, port)}, nil
}

// Backup is a master's backup being read: a copy of its store, a bbolt
// file that store.ReadBackup and `diststore restore` take. Read it to its
// end and Close it.
type Backup struct {
	io.ReadCloser
	// Size is the backup's size in bytes: the stream holds exactly that
	// many, or fails.
	Size int64
	// Node is the host:port of the master it comes from.
	Node string
}

// OpenBackup starts reading a backup of a synced master (found with
// Status), trying each master in turn. The stream is cut if it brings no
// bytes for Config.Timeout.
func (c *Client) OpenBackup(ctx context.Context) (*Backup, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	var candidates []string
	for _, synced := range []bool{true, false} { // synced masters first
		for _, m := range st.Members {
			if m.Master && m.Synced == synced {
				candidates = append(candidates, m.Addr)
			}
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("backup: node %s knows no master yet: %w", st.Node, ErrUnavailable)
	}
	var errs []error
	for _, m := range candidates {
		base, err := c.master(st, m)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		b, err := c.openBackup(ctx, base)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, joined(errs)
}

func (c *Client) openBackup(ctx context.Context, base *url.URL) (*Backup, error) {
	ctx, cancel := context.WithCancel(ctx)
	idle := c.idleTimer(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/backup", nil)
	if err != nil {
		idle.stop()
		cancel()
		return nil, fmt.Errorf("backup: %w", err)
	}
	c.setHeaders(req, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		idle.stop()
		cancel()
		return nil, &ReachError{URL: base.String(), Err: err, Timeout: c.timeout}
	}
	fail := func(err error) (*Backup, error) {
		resp.Body.Close()
		idle.stop()
		cancel()
		return nil, err
	}
	if err := statusError("backup", base.Host, resp); err != nil {
		return fail(err)
	}
	if resp.ContentLength < 0 {
		return fail(fmt.Errorf("backup: node %s answered without a Content-Length", base.Host))
	}
	body := &streamReader{r: io.LimitReader(resp.Body, resp.ContentLength), left: resp.ContentLength,
		idle: idle, url: base.String(), timeout: c.timeout,
		close: func() error { idle.stop(); cancel(); return resp.Body.Close() }}
	return &Backup{ReadCloser: body, Size: resp.ContentLength, Node: base.Host}, nil
}

// streamReader reads a stream of a known length; each read restarts its
// idle timer, and a stream that ends early is a *ReachError.
type streamReader struct {
	r       io.Reader
	left    int64
	idle    *idleTimer
	url     string
	timeout time.Duration
	close   func() error
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.left -= int64(n)
	s.idle.reset()
	if errors.Is(err, io.EOF) && s.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = &ReachError{URL: s.url, Err: err, Timeout: s.timeout, Reading: true}
	}
	return n, err
}

func (s *streamReader) Close() error { return s.close() }

// idleTimer cancels a stream that waits longer than the client's timeout
// for bytes; with no timeout it does nothing.
type idleTimer struct {
	d  time.Duration
	mu sync.Mutex // guards t
	t  *time.Timer
}

func (c *Client) idleTimer(cancel context.CancelFunc) *idleTimer {
	it := &idleTimer{d: c.timeout}
	if it.d > 0 {
		it.t = time.AfterFunc(it.d, cancel)
	}
	return it
}

func (it *idleTimer) reset() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.t != nil {
		it.t.Reset(it.d)
	}
}

func (it *idleTimer) stop() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.t != nil {
		it.t.Stop()
	}
}

// restoreRounds bounds how many times Restore reads the masters anew:
// once to start, and again for each change of the pair while it runs.
const restoreRounds = 8

// Restore loads a backup's entries into the cluster: it sends the stream
// that open returns, in the dump format (as `diststore restore` makes it
// from a backup file), to every master (POST /admin/restore), each entry
// with its own version, so that a key the cluster holds newer keeps its
// value, and a restore can be repeated. open is called once per master.
//
// When the masters change while it runs (one fails and is replaced), it
// reads them again and restores to those it has not: the entries reach
// every master of the pair it last saw, the answers of which it returns,
// in the pair's order. A restore a master refuses as malformed, or for
// the caller's token, is returned at once.
func (c *Client) Restore(ctx context.Context, open func() (io.ReadCloser, error)) ([]api.RestoreResult, error) {
	done := map[string]api.RestoreResult{}
	var errs []error
	wait := 250 * time.Millisecond
	for round := 0; round < restoreRounds; round++ {
		if round > 0 && len(errs) > 0 {
			// A master failed: give the cluster time to notice and
			// replace it before reading the pair again.
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("restore: %w", ctx.Err())
			case <-t.C:
			}
			wait = min(2*wait, 2*time.Second)
		}
		st, err := c.Status(ctx)
		if err != nil {
			return nil, err
		}
		if len(st.Masters) == 0 {
			errs = append(errs, fmt.Errorf("restore: node %s knows no master yet", st.Node))
			continue
		}
		errs = nil
		for _, m := range st.Masters {
			if _, ok := done[m]; ok {
				continue
			}
			base, err := c.master(st, m)
			if err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
			res, err := c.restoreTo(ctx, base, open)
			if err != nil {
				var se *StatusError
				if ctx.Err() != nil || errors.As(err, &se) && se.decided() && se.Code != http.StatusConflict {
					return nil, err
				}
				errs = append(errs, err) // unreachable, or no longer a master
				continue
			}
			done[m] = res
		}
		if len(errs) == 0 {
			out := make([]api.RestoreResult, 0, len(st.Masters))
			for _, m := range st.Masters {
				out = append(out, done[m])
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("restore: not every master took it after %d tries: %w", restoreRounds, joined(errs))
}

// restoreTo sends the stream open returns to the master at base.
func (c *Client) restoreTo(ctx context.Context, base *url.URL, open func() (io.ReadCloser, error)) (api.RestoreResult, error) {
	var res api.RestoreResult
	src, err := open()
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := c.idleTimer(cancel)
	defer idle.stop()
	body := readerFunc(func(p []byte) (int, error) {
		n, err := src.Read(p)
		idle.reset()
		return n, err
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/admin/restore", body)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	c.setHeaders(req, http.Header{"Content-Type": {"application/vnd.diststore.dump"}})
	resp, err := c.http.Do(req)
	if err != nil {
		return res, &ReachError{URL: base.String(), Err: err, Timeout: c.timeout}
	}
	defer resp.Body.Close()
	if err := statusError("restore", base.Host, resp); err != nil {
		return res, err
	}
	idle.reset()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMessageSize))
	if err != nil {
		return res, &ReachError{URL: base.String(), Err: err, Timeout: c.timeout, Reading: true}
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("restore: node %s answered with unreadable JSON: %w", base.Host, err)
	}
	return res, nil
}

// readerFunc is a function as an io.Reader.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
