// Package testnode runs a real diststore node in the process, alone in
// its cluster, behind an HTTP server on 127.0.0.1: the node's own
// packages (cluster over an in-memory multicast network, a bbolt store in
// a temporary directory, the httpapi handler), for the tests and examples
// of packages that speak to a node over HTTP only, such as package client.
// It is not for the node's packages' own tests, which have fakes of their
// own.
package testnode

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// readyTimeout bounds the wait for the node to be a synced master.
const readyTimeout = 10 * time.Second

// Options configure Start.
type Options struct {
	// Tokens, when set, are the client tokens the node requires.
	Tokens *httpapi.Tokens
	// Logger receives the node's events; nil discards them.
	Logger *slog.Logger
}

// Node is a running node. Close stops it and removes its data.
type Node struct {
	// URL is the node's base URL, http://127.0.0.1:port.
	URL string
	// Cluster is the node itself.
	Cluster *cluster.Node

	srv *httptest.Server
	tr  mcast.Transport
	st  *store.Bolt
	dir string
}

// Start starts a node and waits until it is the synced master of its
// one-node cluster.
func Start(opts Options) (n *Node, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n = &Node{}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.dir, err = os.MkdirTemp("", "diststore-testnode-"); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	if n.st, err = store.OpenBolt(filepath.Join(n.dir, "diststore.db"), store.BoltOptions{NoSync: true}); err != nil {
		ln.Close()
		return nil, err
	}
	peers, err := httpapi.NewPeerClient(httpapi.PeerOptions{})
	if err != nil {
		ln.Close()
		return nil, err
	}
	n.tr = mcast.NewMemNetwork().Join(addr.Addr())
	n.Cluster, err = cluster.New(cluster.Config{
		Addr:              addr.Addr(),
		HTTPPort:          int(addr.Port()),
		HeartbeatInterval: 20 * time.Millisecond,
		FailureTimeout:    200 * time.Millisecond,
		Peers:             peers,
		Logger:            log,
	}, n.tr, n.st)
	if err != nil {
		ln.Close()
		return nil, err
	}
	h := httpapi.New(n.Cluster, httpapi.Options{Logger: log, Tokens: opts.Tokens})
	n.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	n.srv.Start()
	n.URL = n.srv.URL
	if err := n.Cluster.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(readyTimeout)
	for st := n.Cluster.Status(); !st.Ready || !st.Synced; st = n.Cluster.Status() {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("testnode: not a synced master within %s", readyTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n, nil
}

// Close stops the node and removes its data directory.
func (n *Node) Close() error {
	var errs []error
	if n.srv != nil {
		n.srv.Close()
	}
	if n.Cluster != nil {
		errs = append(errs, n.Cluster.Close())
	}
	if n.tr != nil {
		errs = append(errs, n.tr.Close())
	}
	if n.st != nil {
		errs = append(errs, n.st.Close())
	}
	if n.dir != "" {
		errs = append(errs, os.RemoveAll(n.dir))
	}
	return errors.Join(errs...)
}
