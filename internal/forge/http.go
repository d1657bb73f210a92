package forge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/diststore/diststore/httpapi"
)

// FakeNode is an HTTP server that answers as a diststore node would, with
// what the forger chose: every key it is asked for (GET /getlocal/<key> or
// /get/<key>) has Value at Version; every write (POST or DELETE
// /local/<key>) is taken and answered 200 with the version it carried; GET
// /healthz is ok. Anything else is 404. It counts the requests it served,
// by route.
type FakeNode struct {
	Value   []byte
	Version string

	srv  *http.Server
	ln   net.Listener
	done chan struct{}

	mu   sync.Mutex
	hits map[string]int // guarded by mu: requests by route ("getlocal", "local", ...)
}

// ServeFake starts a FakeNode on addr (a node's address and its HTTP port).
func ServeFake(addr netip.AddrPort, value []byte, version string) (*FakeNode, error) {
	ln, err := net.Listen("tcp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("forge: fake node on %v: %w", addr, err)
	}
	f := &FakeNode{Value: value, Version: version, ln: ln, done: make(chan struct{}), hits: map[string]int{}}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(f.done)
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

func (f *FakeNode) serve(w http.ResponseWriter, r *http.Request) {
	route, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	f.mu.Lock()
	f.hits[route]++
	f.mu.Unlock()
	switch {
	case route == "getlocal" || route == "get":
		w.Header().Set(httpapi.VersionHeader, f.Version)
		w.Header().Set("ETag", `"`+f.Version+`"`)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(f.Value)
	case route == "local" && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 16<<20))
		v := r.Header.Get(httpapi.VersionHeader)
		if v == "" {
			v = f.Version
		}
		w.Header().Set(httpapi.VersionHeader, v)
		_, _ = io.WriteString(w, "stored locally\n")
	case route == "healthz":
		_, _ = io.WriteString(w, "ok\n")
	default:
		http.NotFound(w, r)
	}
}

// Addr is the address and port the FakeNode listens on.
func (f *FakeNode) Addr() netip.AddrPort {
	a := f.ln.Addr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Hits returns how many requests of route ("getlocal", "local", "healthz",
// ...: the first segment of the path) the FakeNode served.
func (f *FakeNode) Hits(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[route]
}

// Close stops the server, closing its connections, and waits for it.
func (f *FakeNode) Close() error {
	err := f.srv.Close()
	<-f.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// LocalWrite sends the node at node (its address and HTTP port) the write
// a master takes from another node: POST /local/<key> with value, or
// DELETE /local/<key> for a tombstone when del, carrying version in
// X-Diststore-Version. It returns the status code and the body (at most
// 4 KiB of it).
func LocalWrite(ctx context.Context, hc *http.Client, node netip.AddrPort, key string, value []byte, version string, del bool) (int, string, error) {
	method, body := http.MethodPost, io.Reader(bytes.NewReader(value))
	if del {
		method, body = http.MethodDelete, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+node.String()+"/local/"+url.PathEscape(key), body)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set(httpapi.VersionHeader, version)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b), err
}
