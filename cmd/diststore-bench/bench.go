package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/internal/cliout"
	closedloop "github.com/diststore/diststore/internal/loadgen"
	"github.com/diststore/diststore/internal/nodecfg"
)

// The operations bench can load a cluster with.
const (
	benchGet        = "get"          // GET /get/<key> of keys that exist: 200
	benchGetLocal   = "getlocal"     // GET /getlocal/<key> of keys that exist: 200
	benchPut        = "put"          // POST /<key>: 2xx
	benchMiss       = "miss"         // GET /get/<key> of keys nobody holds: 404
	benchFirstGet   = "first-get"    // GET /get/<key> of each key once: 200
	benchCopyPerKey = "copy-per-key" // GET /list, then GET /getlocal/<key> of each: 200
)

var benchOps = []string{benchGet, benchGetLocal, benchPut, benchMiss, benchFirstGet, benchCopyPerKey}

// maxPreload bounds the time --preload may take, and a run capped by
// --requests without a --duration.
const maxPreload = 10 * time.Minute

// errIncomplete: a run with a request cap ended, at --duration, before it
// sent them all. What it measured is not what was asked for (a preload
// that stopped early leaves keys unwritten), so it is an error.
var errIncomplete = errors.New("stopped at --duration before sending every request")

// benchConfig is one run of the load generator.
type benchConfig struct {
	op        string
	urls      []*url.URL    // nodes, each http://host:port
	conns     int           // concurrent connections, spread round-robin over urls
	duration  time.Duration // the run stops after this long
	requests  int64         // and after this many requests; 0 = no cap
	keys      int           // keys prefix+0 .. prefix+keys-1
	prefix    string        // of every key bench reads or writes
	valueSize int           // bytes of each value put
	zipf      float64       // exponent of a Zipf choice of keys; 0 = uniform
	timeout   time.Duration // of one request; 0 = none
}

// benchResult is what a run measured; with --json it is printed as one
// JSON object. Latencies are of every request sent, failed ones included.
type benchResult struct {
	Op    string   `json:"op"`
	URLs  []string `json:"urls"`
	Conns int      `json:"conns"`
	Keys  int      `json:"keys"`
	// Result holds the counts, the rate and the latencies; its Errors
	// are by HTTP status, or "transport".
	closedloop.Result
	// Listed, ListSeconds and KeysPerSec are set by copy-per-key: the keys
	// GET /list returned, how long that took, and the rate at which the
	// whole copy goes (listing included), extrapolated when the run
	// stopped before copying every key.
	Listed      int     `json:"listed,omitempty"`
	ListSeconds float64 `json:"list_seconds,omitempty"`
	KeysPerSec  float64 `json:"keys_per_sec,omitempty"`
	// Preload is the run that wrote the keys first, with --preload.
	Preload *benchResult `json:"preload,omitempty"`
}

// newApp returns diststore-bench on sys, a closed-loop HTTP load generator
// for a cluster's API. Errors are returned from Run, never printed nor
// turned into an exit by the cli package: run does that.
//
// urfave/cli/v2 writes to its global help flag while parsing, so two apps
// must not Run at the same time; tests run one after the other.
func newApp(sys system) *cli.App {
	return &cli.App{
		Name:      "diststore-bench",
		Usage:     "load nodes with requests and report requests/s and latency",
		UsageText: "diststore-bench [--node URL] [--timeout DURATION] [options] [URL...]",
		Description: "A closed loop: each of --conns connections (keep-alive) sends one request, waits for\n" +
			"the answer, and sends the next, until --duration has passed or --requests were sent.\n" +
			"With --requests and no --duration, the run stops after the requests (or " + maxPreload.String() + ");\n" +
			"a run that --duration stops before it sent --requests (or, for first-get, every key) fails.\n" +
			"Connections are spread round-robin over the URLs (default: the node of --node, or the\n" +
			"local node, found as the diststore client finds it). Keys are PREFIX0 .. PREFIX<keys-1>;\n" +
			"values are --value-size bytes.\n\n" +
			"  get, getlocal   read existing keys (uniform, or Zipf with --zipf S > 1); 200 is success\n" +
			"  put             write the keys in turn, overwriting after the last; 2xx is success\n" +
			"  miss            read random keys nobody holds; 404 is success\n" +
			"  first-get       read each key once, through GET /get; stops after the last key\n" +
			"  copy-per-key    on one connection, GET /list of the first URL, then GET /getlocal of\n" +
			"                  each key listed (the original's master sync); keys_per_sec is the\n" +
			"                  rate of the whole copy, extrapolated if the run stops before the end\n\n" +
			"The latencies are of every request, failed ones included. --timeout bounds each one.\n" +
			"Exit status: 0 success, 2 any error (one line on stderr).",
		Version:         version,
		HideHelpCommand: true,
		Writer:          sys.stdout,
		ErrWriter:       sys.stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  flagNode,
				Usage: "the node to load when no URL is given: `URL` http://host:port, or host:port, or host; env " + nodecfg.EnvNode + "; default: the local node",
			},
			&cli.DurationFlag{
				Name:  flagTimeout,
				Value: defaultTimeout,
				Usage: "give up on a request after `DURATION`; 0 means never",
			},
			&cli.StringFlag{Name: "op", Value: benchGet, Usage: "`OP`: " + strings.Join(benchOps, ", ")},
			&cli.IntFlag{Name: "conns", Value: 50, Usage: "concurrent connections (copy-per-key: 1)"},
			&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "stop after `DURATION` (with --requests and no --duration: " + maxPreload.String() + ")"},
			&cli.Int64Flag{Name: "requests", Usage: "stop after `N` requests; 0 = no cap"},
			&cli.IntFlag{Name: "keys", Value: 1000, Usage: "how many keys to read or write"},
			&cli.StringFlag{Name: "prefix", Value: "bench-", Usage: "`PREFIX` of every key"},
			&cli.IntFlag{Name: "value-size", Value: 100, Usage: "bytes of each value written"},
			&cli.Float64Flag{Name: "zipf", Usage: "choose keys to read by a Zipf distribution of exponent `S` > 1; 0 = uniform"},
			&cli.BoolFlag{Name: "preload", Usage: "write every key once before the run (at most " + maxPreload.String() + ")"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON object"},
		},
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run maps errors to exit codes
		Action: func(c *cli.Context) error {
			cfg, err := benchFlags(c, sys)
			if err != nil {
				return err
			}
			var preload *benchResult
			if c.Bool("preload") {
				p := cfg
				p.op, p.requests, p.duration = benchPut, int64(cfg.keys), maxPreload
				if preload, err = runBench(c.Context, p); err != nil {
					return err
				}
				if preload.OK != int64(cfg.keys) {
					return fmt.Errorf("bench: preload wrote %d of %d keys (errors: %s)", preload.OK, cfg.keys, errorsString(preload.Errors))
				}
			}
			res, err := runBench(c.Context, cfg)
			if err != nil {
				return err
			}
			res.Preload = preload
			if c.Bool("json") {
				out, err := json.Marshal(res)
				if err != nil {
					return fmt.Errorf("bench: %w", err)
				}
				return cliout.PrintLine(sys.stdout, out)
			}
			return writeBench(sys.stdout, res)
		},
	}
}

// benchFlags reads the command's flags and arguments.
func benchFlags(c *cli.Context, sys system) (benchConfig, error) {
	cfg := benchConfig{
		op:        c.String("op"),
		conns:     c.Int("conns"),
		duration:  c.Duration("duration"),
		requests:  c.Int64("requests"),
		keys:      c.Int("keys"),
		prefix:    c.String("prefix"),
		valueSize: c.Int("value-size"),
		zipf:      c.Float64("zipf"),
		timeout:   c.Duration(flagTimeout),
	}
	switch {
	case !slices.Contains(benchOps, cfg.op):
		return cfg, usagef("--op %q: want one of %s", cfg.op, strings.Join(benchOps, ", "))
	case cfg.conns < 1:
		return cfg, usagef("--conns %d: want at least 1", cfg.conns)
	case cfg.op == benchCopyPerKey && c.IsSet("conns") && cfg.conns != 1:
		return cfg, usagef("--conns %d: copy-per-key uses one connection", cfg.conns)
	case cfg.duration <= 0:
		return cfg, usagef("--duration %s: want more than 0", cfg.duration)
	case cfg.requests < 0:
		return cfg, usagef("--requests %d: negative", cfg.requests)
	case cfg.keys < 1:
		return cfg, usagef("--keys %d: want at least 1", cfg.keys)
	case cfg.valueSize < 0:
		return cfg, usagef("--value-size %d: negative", cfg.valueSize)
	case cfg.zipf != 0 && !(cfg.zipf > 1):
		return cfg, usagef("--zipf %g: want an exponent above 1, or 0 for uniform", cfg.zipf)
	case cfg.timeout < 0:
		return cfg, usagef("--%s %s: negative", flagTimeout, cfg.timeout)
	}
	if cfg.op == benchCopyPerKey {
		cfg.conns = 1
	}
	if cfg.requests > 0 && !c.IsSet("duration") {
		cfg.duration = maxPreload // the cap decides, not the default duration
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		u, err := sys.finder().Find(c.String(flagNode))
		if err != nil {
			return cfg, err
		}
		cfg.urls = []*url.URL{u}
	}
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' {
			return cfg, usagef("unexpected argument %q: options go before the URLs", a)
		}
		u, err := nodecfg.ParseNode(a)
		if err != nil {
			return cfg, usagef("URL %q: %v", a, err)
		}
		cfg.urls = append(cfg.urls, u)
	}
	return cfg, nil
}

// benchWorker is one connection's loop and what it measured.
type benchWorker struct {
	base    string          // http://host:port
	rng     *rand.Rand      // for miss keys and uniform choices
	zipf    *rand.Zipf      // nil: uniform choices
	latency []time.Duration // of every request sent
	ok      int64
	errs    map[string]int64
}

// loadgen is one run of bench in progress.
type loadgen struct {
	cfg    benchConfig
	http   *http.Client
	value  []byte       // what put writes
	issued atomic.Int64 // requests started, over every worker
	limit  int64        // requests to send at most; 0 = no cap
	// keysList is what copy-per-key copies.
	keysList []string
}

// runBench runs cfg and returns what it measured. Requests that fail are
// counted, not returned; the error is for a run that could not happen
// (ctx ended, copy-per-key's listing failed).
func runBench(ctx context.Context, cfg benchConfig) (*benchResult, error) {
	g := &loadgen{cfg: cfg, value: bytes.Repeat([]byte("v"), cfg.valueSize), limit: cfg.requests}
	dialer := &net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   cfg.conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.timeout,
		DisableCompression:    true,
	}
	defer transport.CloseIdleConnections()
	g.http = &http.Client{
		Transport: transport,
		Timeout:   cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	res := &benchResult{Op: cfg.op, Conns: cfg.conns, Keys: cfg.keys, Result: closedloop.Result{Errors: map[string]int64{}}}
	for _, u := range cfg.urls {
		res.URLs = append(res.URLs, u.String())
	}

	if cfg.op == benchFirstGet && (g.limit == 0 || g.limit > int64(cfg.keys)) {
		g.limit = int64(cfg.keys)
	}
	if cfg.op == benchCopyPerKey {
		start := time.Now()
		keys, err := g.list(ctx, cfg.urls[0].String())
		if err != nil {
			return nil, err
		}
		res.ListSeconds = time.Since(start).Seconds()
		res.Listed = len(keys)
		g.keysList = keys
		if len(keys) == 0 {
			return res, nil // nothing to copy
		}
		if g.limit == 0 || g.limit > int64(len(keys)) {
			g.limit = int64(len(keys))
		}
	}

	workers := make([]*benchWorker, cfg.conns)
	for i := range workers {
		w := &benchWorker{
			base: cfg.urls[i%len(cfg.urls)].String(),
			rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))),
			errs: map[string]int64{},
		}
		if cfg.zipf > 1 {
			w.zipf = rand.NewZipf(w.rng, cfg.zipf, 1, uint64(cfg.keys-1))
		}
		workers[i] = w
	}
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.loop(ctx, w, deadline)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	g.collect(res, workers, elapsed)
	// copy-per-key may stop early by design: it extrapolates.
	if (cfg.requests > 0 || cfg.op == benchFirstGet) && res.Requests < g.limit {
		return res, fmt.Errorf("bench %s: %w: %d of %d in %s", cfg.op, errIncomplete, res.Requests, g.limit, cfg.duration)
	}
	return res, nil
}

// loop sends requests until the deadline or the cap.
func (g *loadgen) loop(ctx context.Context, w *benchWorker, deadline time.Time) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		n := g.issued.Add(1)
		if g.limit > 0 && n > g.limit {
			return
		}
		method, path, body, want := g.next(w, n-1)
		t0 := time.Now()
		code, err := g.send(ctx, method, w.base+path, body)
		w.latency = append(w.latency, time.Since(t0))
		switch {
		case err != nil:
			w.errs["transport"]++
		case want(code):
			w.ok++
		default:
			w.errs[strconv.Itoa(code)]++
		}
	}
}

// next returns the n-th request of the run (n counts from 0 over every
// worker) and which statuses are success.
func (g *loadgen) next(w *benchWorker, n int64) (method, path string, body []byte, want func(int) bool) {
	ok200 := func(code int) bool { return code == http.StatusOK }
	key := func(i int64) string { return url.PathEscape(g.cfg.prefix + strconv.FormatInt(i, 10)) }
	switch g.cfg.op {
	case benchPut:
		return http.MethodPost, "/" + key(n%int64(g.cfg.keys)), g.value,
			func(code int) bool { return code >= 200 && code <= 299 }
	case benchMiss:
		miss := fmt.Sprintf("%smiss-%016x%016x", g.cfg.prefix, w.rng.Uint64(), w.rng.Uint64())
		return http.MethodGet, "/get/" + url.PathEscape(miss), nil,
			func(code int) bool { return code == http.StatusNotFound }
	case benchFirstGet:
		return http.MethodGet, "/get/" + key(n%int64(g.cfg.keys)), nil, ok200
	case benchCopyPerKey:
		return http.MethodGet, "/getlocal/" + url.PathEscape(g.keysList[n]), nil, ok200
	}
	var i int64
	if w.zipf != nil {
		i = int64(w.zipf.Uint64())
	} else {
		i = w.rng.Int64N(int64(g.cfg.keys))
	}
	prefix := "/get/"
	if g.cfg.op == benchGetLocal {
		prefix = "/getlocal/"
	}
	return http.MethodGet, prefix + key(i), nil, ok200
}

// send sends one request, reads the answer to its end (so the connection
// is reused) and returns the status.
func (g *loadgen) send(ctx context.Context, method, target string, body []byte) (int, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "diststore-bench/"+version)
	resp, err := g.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// list returns the keys GET /list of base answers, for copy-per-key.
func (g *loadgen) list(ctx context.Context, base string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/list", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: list: %w", err)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach node %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxMessageSize))
		return nil, fmt.Errorf("bench: list: node %s answered %s: %s", strings.TrimPrefix(base, "http://"), resp.Status, cliout.OneLine(string(msg)))
	}
	var keys []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	for sc.Scan() {
		if k := sc.Text(); k != "" {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the answer of node %s: %w", base, err)
	}
	return keys, nil
}

// collect sums the workers' counts into res and works out the rates and
// latency percentiles (loadgen.Summarize, as diststore-bench-etcd does).
func (g *loadgen) collect(res *benchResult, workers []*benchWorker, elapsed time.Duration) {
	var all []time.Duration
	var ok int64
	for _, w := range workers {
		all = append(all, w.latency...)
		ok += w.ok
		for k, v := range w.errs {
			res.Errors[k] += v
		}
	}
	res.Result = closedloop.Summarize(all, ok, res.Errors, elapsed)
	if g.cfg.op == benchCopyPerKey && res.Listed > 0 && res.OK > 0 {
		perKey := res.Seconds / float64(res.OK)
		res.KeysPerSec = float64(res.Listed) / (res.ListSeconds + perKey*float64(res.Listed))
	}
}

// errorsString is errs as "404: 3, transport: 1", or "none".
func errorsString(errs map[string]int64) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range errs {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// maxMessageSize is the most read of an error's answer.
const maxMessageSize = 4 << 10

// writeBench prints res as a table, its preload first.
func writeBench(w io.Writer, res *benchResult) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range []*benchResult{res.Preload, res} {
		if r == nil {
			continue
		}
		op := r.Op
		if r == res.Preload {
			op += " (preload)"
		}
		fmt.Fprintf(tw, "op\t%s\n", op)
		fmt.Fprintf(tw, "nodes\t%s\n", strings.Join(r.URLs, " "))
		fmt.Fprintf(tw, "conns\t%d\n", r.Conns)
		if r.Listed > 0 || r.Op == benchCopyPerKey {
			fmt.Fprintf(tw, "listed\t%d keys in %.3fs\n", r.Listed, r.ListSeconds)
		}
		fmt.Fprintf(tw, "requests\t%d in %.2fs, %d ok\n", r.Requests, r.Seconds, r.OK)
		fmt.Fprintf(tw, "errors\t%s\n", errorsString(r.Errors))
		fmt.Fprintf(tw, "req/s\t%.0f\n", r.ReqPerSec)
		if r.KeysPerSec > 0 {
			fmt.Fprintf(tw, "keys/s\t%.0f (the whole copy, listing included)\n", r.KeysPerSec)
		}
		fmt.Fprintf(tw, "latency\tmean %.3fms  p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n",
			r.MeanMs, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs)
		if r == res.Preload {
			fmt.Fprintln(tw)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
