package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// apiServer is the HTTP server of the API on its listener, from
// startAPI until stop.
type apiServer struct {
	srv    *http.Server
	ln     net.Listener
	fresh  *connTracker
	served chan error // Serve's error, once it returns
}

// startAPI serves srv on ln until stop. It takes over srv.ConnState.
func startAPI(srv *http.Server, ln net.Listener) *apiServer {
	a := &apiServer{srv: srv, ln: ln, fresh: newConnTracker(),
		served: make(chan error, 1)}
	srv.ConnState = a.fresh.track
	go func() { a.served <- srv.Serve(a.ln) }()
	return a
}

// stop stops accepting, closes the connections that carry no request,
// and gives the requests in flight until timeout to finish. It logs a
// warning only for what really went wrong: requests cut short at the
// deadline, or an error of the server's.
func (a *apiServer) stop(timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a.srv.SetKeepAlivesEnabled(false)
	// Shutdown would wait up to 5 s for connections that never sent a
	// request (a client's spare pooled connection). They carry no work:
	// stop accepting, wait until Serve has returned, then close them.
	// Waiting for Serve settles two races with it: a connection it had
	// accepted but not yet reported as new escaped closeAll (and held the
	// stop for 5 s); and Shutdown closed the listener a second time while
	// Serve still held it, and returned the second close's "use of
	// closed network connection" as if requests had been cut short.
	_ = a.ln.Close()
	if err := <-a.served; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		log.Warn("http server", "err", err)
	}
	a.fresh.closeAll()
	err := a.srv.Shutdown(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		log.Warn("in-flight requests cut short", "timeout", timeout, "err", err)
	case err != nil:
		log.Warn("http server shutdown", "err", err)
	}
}

// connTracker remembers the server's connections that have not yet sent
// a request (http.StateNew).
type connTracker struct {
	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

func newConnTracker() *connTracker { return &connTracker{conns: map[net.Conn]struct{}{}} }

func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == http.StateNew {
		t.conns[c] = struct{}{}
	} else {
		delete(t.conns, c)
	}
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		_ = c.Close()
		delete(t.conns, c)
	}
}
