// Command diststore-baseline is the bare HTTP server diststore's benchmark
// (make bench) compares a node with: net/http serving a fixed value from a
// map at GET /getlocal/<key> and GET /get/<key>, and taking POST /<key>
// into a map in memory (no disk, no other node): the bare cost of a
// request, which make bench sets beside a node's CPU per write. It
// listens only on a loopback address.
//
//	diststore-baseline [--addr 127.0.2.100:8181] [--keys 1000] [--prefix bench-] [--value-size 100]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "diststore-baseline: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("diststore-baseline", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.2.100:8181", "loopback `ADDR:PORT` to listen on")
	keys := fs.Int("keys", 1000, "serve keys PREFIX0 .. PREFIX<keys-1>")
	prefix := fs.String("prefix", "bench-", "`PREFIX` of the keys")
	size := fs.Int("value-size", 100, "bytes of every value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("--addr %s: not a loopback address", ap)
	}
	if *keys < 0 || *size < 0 {
		return errors.New("--keys and --value-size must not be negative")
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(*prefix, *keys, *size), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-done:
		return err
	case <-sigs:
		return srv.Close()
	}
}

// Bounds of what POST keeps: a value, and the keys before the map of
// written values starts again.
const (
	maxPostValue = 1 << 20
	maxPostKeys  = 1 << 20
)

// newHandler serves a map of keys prefix0 .. prefix<n-1>, each holding the
// same size-byte value. The map is never written after this, so the
// handler needs no lock. POST /<key> stores into a map of its own.
func newHandler(prefix string, n, size int) http.Handler {
	value := bytes.Repeat([]byte("v"), size)
	values := make(map[string][]byte, n)
	for i := range n {
		values[prefix+strconv.Itoa(i)] = value
	}
	var mu sync.Mutex // guards written
	written := map[string][]byte{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Count(r.URL.Path, "/") == 1 && len(r.URL.Path) > 1 {
			v, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPostValue))
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			mu.Lock()
			if len(written) >= maxPostKeys {
				clear(written)
			}
			written[r.URL.Path[1:]] = v
			mu.Unlock()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "stored\n")
			return
		}
		var key string
		switch {
		case strings.HasPrefix(r.URL.Path, "/getlocal/"):
			key = r.URL.Path[len("/getlocal/"):]
		case strings.HasPrefix(r.URL.Path, "/get/"):
			key = r.URL.Path[len("/get/"):]
		default:
			http.NotFound(w, r)
			return
		}
		v, ok := values[key]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(v)
	})
}
