package httpapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/repl"
	"github.com/diststore/diststore/store"
)

// The replication stream (package repl) is opened by an upgrade of
// GET /replicate to streamProtocol. A node that answers anything but 101
// (an older diststore, the original) is sent a request per write.
const (
	pathReplicate  = "/replicate"
	streamProtocol = "diststore-repl/1"
)

// dialStream opens a replication stream to the node at to: it connects,
// sends the upgrade request (signed, with a handshake, when there is a
// cluster key) and checks the answer. A node that answers with anything
// but an upgrade is repl.ErrUnsupported, unless it refuses the request's
// credentials (401, 403); that, or a node that cannot prove the key, is
// cluster.ErrMasterRefused.
func (c *PeerClient) dialStream(ctx context.Context, to netip.AddrPort) (repl.Link, error) {
	d := net.Dialer{Timeout: c.opts.DialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", to.String())
	if err != nil {
		return repl.Link{}, fmt.Errorf("stream to %s: %w", to.Addr(), err)
	}
	link, err := c.handshake(ctx, conn, to)
	if err != nil {
		_ = conn.Close()
		return repl.Link{}, err
	}
	return link, nil
}

func (c *PeerClient) handshake(ctx context.Context, conn net.Conn, to netip.AddrPort) (repl.Link, error) {
	deadline := time.Now().Add(c.opts.ResponseTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req, err := http.NewRequest(http.MethodGet, peerURL(to, pathReplicate), nil)
	if err != nil {
		return repl.Link{}, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", streamProtocol)
	req.Header.Set("User-Agent", "diststored")
	var hello *clusterkey.StreamClient
	if c.opts.Ring != nil {
		var h string
		h, hello = c.opts.Ring.StreamHello()
		req.Header.Set(clusterkey.StreamHelloHeader, h)
		c.opts.Ring.Sign(req, sha256.Sum256(nil))
	}
	if err := req.Write(conn); err != nil {
		return repl.Link{}, fmt.Errorf("stream to %s: %w", to.Addr(), err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return repl.Link{}, fmt.Errorf("stream to %s: %w", to.Addr(), err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		_ = resp.Body.Close()
		why := fmt.Sprintf("%s answered %s to a stream: %s", to.Addr(), resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return repl.Link{}, writeErrorOf(resp.StatusCode, why)
		}
		// Anything else is a node that does not serve streams: the
		// original answers GET /replicate as it answers any path, an
		// older diststore 404. Its requests say what it makes of a write.
		return repl.Link{}, fmt.Errorf("%w: %s", repl.ErrUnsupported, why)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), streamProtocol) {
		return repl.Link{}, fmt.Errorf("%w: %s upgraded to %q", repl.ErrUnsupported, to.Addr(), resp.Header.Get("Upgrade"))
	}
	link := repl.Link{Conn: conn, Reader: br}
	if hello != nil {
		keys, err := hello.Finish(resp.Header.Get(clusterkey.StreamHelloHeader))
		if err != nil {
			return repl.Link{}, fmt.Errorf("%w: %s: %v", cluster.ErrMasterRefused, to.Addr(), err)
		}
		link.Send, link.Recv = keys.Send, keys.Recv
	}
	_ = conn.SetDeadline(time.Time{})
	return link, nil
}

// forwardStream sends a forwarded write on the stream to the master at
// to. ok is false when the master does not serve streams, or the client
// was closed: the caller sends a request instead.
func (c *PeerClient) forwardStream(ctx context.Context, to netip.AddrPort, key string, e store.Entry, epoch uint64) (v store.Version, ok bool, err error) {
	res, err := c.streams.Send(ctx, to, repl.Write{Key: key, Entry: e, Epoch: epoch})
	switch {
	case errors.Is(err, repl.ErrUnsupported), errors.Is(err, repl.ErrPoolClosed):
		return store.Version{}, false, nil // a request instead
	case err != nil:
		return store.Version{}, true, fmt.Errorf("write to %s: %w", to.Addr(), err)
	}
	switch res.Code {
	case repl.CodeOK:
		return res.Held, true, nil
	case repl.CodeNotMaster:
		return store.Version{}, true, fmt.Errorf("%w (%s on its stream: %s)", cluster.ErrNotMaster, to.Addr(), res.Msg)
	case repl.CodePrecond:
		return store.Version{}, true, fmt.Errorf("%w (%s on its stream: %s)", cluster.ErrPrecondition, to.Addr(), res.Msg)
	}
	return store.Version{}, true, fmt.Errorf("%w: %s on its stream: %s", cluster.ErrMasterRefused, to.Addr(), res.Msg)
}

// streamable reports whether a forwarded write goes on a stream: a value
// larger than repl.MaxStreamValue goes by a request of its own.
func streamable(e store.Entry) bool {
	return e.Deleted || len(e.Value) <= repl.MaxStreamValue
}

// handleReplicate serves a replication stream: GET /replicate upgraded
// to streamProtocol. authorize has checked the request's proof of the
// cluster key, if there is one; the handshake proves it to the client
// and sets the frames' keys.
func (s *Server) handleReplicate(w http.ResponseWriter, r *http.Request) {
	if !headerHas(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), streamProtocol) {
		writeError(w, fmt.Errorf("%w: want Connection: Upgrade and Upgrade: %s", errBadRequest, streamProtocol))
		return
	}
	select {
	case s.replicas <- struct{}{}:
		defer func() { <-s.replicas }()
	default:
		writeError(w, fmt.Errorf("%w: %d replication streams are being served", errBusy, cap(s.replicas)))
		return
	}
	var answer string
	var keys clusterkey.StreamKeys
	if ring := s.opts.Ring; ring != nil {
		var err error
		if answer, keys, err = ring.AcceptStream(r.Header.Get(clusterkey.StreamHelloHeader)); err != nil {
			s.met.refused(clusterkey.Reason(err))
			writeError(w, fmt.Errorf("%w: %v", errUnauthorized, err))
			return
		}
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, fmt.Errorf("replication stream: %w", err))
		return
	}
	head := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + streamProtocol + "\r\n"
	if answer != "" {
		head += clusterkey.StreamHelloHeader + ": " + answer + "\r\n"
	}
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := brw.WriteString(head + "\r\n"); err == nil {
		err = brw.Flush()
	}
	if err != nil {
		_ = conn.Close()
		return
	}
	err = s.streams.Serve(repl.Link{Conn: conn, Reader: brw.Reader, Send: keys.Send, Recv: keys.Recv})
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, repl.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("replication stream ended", "from", r.RemoteAddr, "err", err)
	}
}

// applyStream applies a batch of writes a stream brought, as handleLocal
// does a forwarded write but in one transaction, and answers with an ack
// for each.
func (s *Server) applyStream(ws []repl.Write) []repl.Result {
	rs := make([]cluster.Replica, len(ws))
	for i, w := range ws {
		rs[i] = cluster.Replica{Key: w.Key, Entry: w.Entry, Epoch: w.Epoch}
	}
	held, errs := s.node.ReplicateBatch(rs)
	out := make([]repl.Result, len(ws))
	for i, err := range errs {
		if err == nil {
			out[i] = repl.Result{Code: repl.CodeOK, Held: held[i].Version}
			continue
		}
		code := statusOf(err)
		switch code {
		case http.StatusConflict:
			out[i] = repl.Result{Code: repl.CodeNotMaster, Msg: err.Error()}
			continue
		case http.StatusPreconditionFailed:
			out[i] = repl.Result{Code: repl.CodePrecond, Msg: err.Error()}
			continue
		}
		msg := err.Error()
		if code == http.StatusInternalServerError {
			s.log.Warn("replicated write failed", "key_len", len(ws[i].Key), "err", err)
			msg = "internal error: see the node's log"
		}
		out[i] = repl.Result{Code: repl.CodeRefused, Msg: fmt.Sprintf("%d %s: %s", code, http.StatusText(code), msg)}
	}
	return out
}

// headerHas reports whether a comma-separated header holds token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Close ends the replication streams this server serves: each finishes
// applying and acknowledging what it read. http.Server.Shutdown does not
// wait for them (they are hijacked connections): call Close after it.
func (s *Server) Close() error { return s.streams.Close() }
