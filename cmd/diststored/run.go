package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/internal/join"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// After SIGTERM a master hands its seat over for at most handoffTimeout,
// then in-flight requests have shutdownTimeout to finish. Together they
// stay under the 30 s supervisord and systemd give the node to stop.
const (
	handoffTimeout  = 15 * time.Second
	shutdownTimeout = 10 * time.Second
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newApp() *cli.App {
	return &cli.App{
		Name:    "diststored",
		Usage:   "run a diststore node",
		Version: version,
		Description: "diststored joins the diststore cluster on the LAN by UDP multicast, " +
			"serves the HTTP API and holds keys. Every flag can also be set with an " +
			"environment variable DISTSTORE_<FLAG> or in diststored.cfg, section [diststored].",
		Flags:           Flags(),
		Action:          run,
		HideHelpCommand: true,
	}
}

// run starts the node and serves until SIGTERM or SIGINT, then leaves the
// cluster, finishes in-flight requests and stops.
func run(c *cli.Context) error {
	s, err := loadSettings(c)
	if err != nil {
		return err
	}
	log := newLogger(c.App.ErrWriter, s.LogFormat, s.LogLevel)
	if s.BindNote != "" {
		log.Info(s.BindNote, "bind", s.Bind.String())
	}
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	var ifi *net.Interface
	if s.Interface != "" {
		if ifi, err = net.InterfaceByName(s.Interface); err != nil {
			return fmt.Errorf("--interface %q: %w", s.Interface, err)
		}
	}
	httpAddr := netip.AddrPortFrom(s.Bind, uint16(s.HTTPPort)).String()
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", httpAddr, err)
	}
	defer ln.Close()
	sec, err := loadSecrets(s)
	if err != nil {
		return err
	}
	// From here on SIGHUP reloads, never stops the node.
	stopReload := sec.reloadOnHangup(log)
	defer stopReload()
	tr, err := mcast.ListenUDP(mcast.UDPConfig{Addr: s.Bind, UnicastPort: uint16(s.UnicastPort), Group: s.Group, Interface: ifi,
		NoGroup: !s.Multicast})
	if err != nil {
		return fmt.Errorf("multicast: %w", err)
	}
	if sec.ring != nil {
		tr = mcast.Sealed(tr, sec.ring, s.Group, clusterkey.Reason)
	}
	defer tr.Close()
	dbPath := filepath.Join(s.DataDir, "diststore.db")
	st, err := store.OpenBolt(dbPath, store.BoltOptions{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	var seeds func() []netip.AddrPort
	if len(s.Join) > 0 {
		js := join.New(join.Config{Targets: s.Join, Resolver: resolver(s.DNSServer), Logger: log})
		js.Start()
		defer js.Close()
		seeds = js.Addrs
	}
	peers, err := httpapi.NewPeerClient(httpapi.PeerOptions{MaxValueSize: s.MaxValueSize, Ring: sec.ring})
	if err != nil {
		return err
	}
	node, err := cluster.New(cluster.Config{
		Addr:             s.Bind,
		HTTPPort:         s.HTTPPort,
		MulticastTimeout: s.MulticastTimeout,
		MaxValueSize:     s.MaxValueSize,
		CacheTTL:         s.CacheTTL,
		CacheMaxBytes:    s.CacheMaxBytes,
		TombstoneTTL:     s.TombstoneTTL,
		CacheMinReads:    s.CacheMinReads,
		MaxClockSkew:     s.MaxClockSkew,
		AnswerFanout:     s.AnswerFanout,
		Seeds:            seeds,
		NoMulticast:      !s.Multicast,
		Peers:            peers,
		Logger:           log,
	}, tr, st)
	if err != nil {
		return err
	}
	handler := httpapi.New(node, httpapi.Options{MaxValueSize: s.MaxValueSize, Logger: log,
		Ring: sec.ring, Tokens: sec.tokens})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := node.Start(); err != nil {
		return err
	}
	log.Info("diststored started", "version", version, "addr", s.Bind.String(), "http", httpAddr,
		"group", s.Group.String(), "multicast", s.Multicast, "join", fmt.Sprint(s.Join), "config", s.ConfigFile, "store", dbPath, "keys", st.Len(),
		"cluster_key", sec.ring != nil, "client_tokens", sec.tokens != nil)
	if sec.ring == nil {
		log.Warn("no cluster key (--" + flagClusterKeyFile + "): any host on the LAN can join this cluster, " +
			"take it over and read, write and delete keys; see Security in the README")
	}

	if s.PprofAddr.IsValid() {
		stopPprof, err := servePprof(s.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	api := startAPI(srv, ln)

	select {
	case <-ctx.Done():
		log.Info("stopping: signal received")
	case err := <-api.served:
		_ = handler.Close()
		_ = node.Close()
		return fmt.Errorf("http server: %w", err)
	}
	hctx, hcancel := context.WithTimeout(context.Background(), handoffTimeout)
	node.Leave(hctx)
	hcancel()
	api.stop(shutdownTimeout, log)
	// The replication streams are hijacked connections, which Shutdown
	// leaves alone: each finishes the writes it read, then closes.
	_ = handler.Close()
	if err := node.Close(); err != nil {
		return err
	}
	log.Info("diststored stopped")
	return nil
}

// resolver returns the resolver of --join names: the system's, or one
// that asks only the DNS server at server (--dns-server, for tests).
func resolver(server netip.AddrPort) join.Resolver {
	if !server.IsValid() {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server.String())
		},
	}
}

// servePprof serves Go's profiles on a loopback listener of its own, apart
// from the API, and returns a function that stops it.
func servePprof(addr netip.AddrPort, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.Info("pprof listening", "addr", addr.String())
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}

// newLogger returns a structured logger writing one line per event.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// secrets are the node's cluster key and client tokens, each nil when
// not configured.
type secrets struct {
	ring   *clusterkey.Ring
	tokens *httpapi.Tokens
}

// loadSecrets reads the key and token files the settings name.
func loadSecrets(s settings) (secrets, error) {
	var sec secrets
	var err error
	if s.ClusterKeyFile != "" {
		// The window of a datagram's timestamp is the clock skew a
		// version may have: a node further off cannot write anyway.
		sec.ring, err = clusterkey.Load(s.ClusterKeyFile, clusterkey.Options{Window: s.MaxClockSkew})
		if err != nil {
			return sec, fmt.Errorf("--%s: %w", flagClusterKeyFile, err)
		}
	}
	if s.ClientTokenFile != "" {
		if sec.tokens, err = httpapi.LoadTokens(s.ClientTokenFile); err != nil {
			return sec, fmt.Errorf("--%s: %w", flagClientTokenFile, err)
		}
	}
	return sec, nil
}

// reloadOnHangup reads the key and token files again on each SIGHUP
// until the returned function is called. A file that fails to load
// leaves what is in use and is logged.
func (sec secrets) reloadOnHangup(log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			if sec.ring == nil && sec.tokens == nil {
				log.Info("SIGHUP: no cluster key or client token file to reload")
				continue
			}
			if sec.ring != nil {
				if err := sec.ring.Reload(); err != nil {
					log.Error("SIGHUP: cluster key not reloaded, the keys in use stay", "err", err)
				} else {
					log.Info("SIGHUP: cluster key reloaded", "file", sec.ring.Path(), "keys", sec.ring.Len())
				}
			}
			if sec.tokens != nil {
				if err := sec.tokens.Reload(); err != nil {
					log.Error("SIGHUP: client tokens not reloaded, the tokens in use stay", "err", err)
				} else {
					log.Info("SIGHUP: client tokens reloaded")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
}
