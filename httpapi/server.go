package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/clusterkey"
	"github.com/diststore/diststore/repl"
	"github.com/diststore/diststore/store"
)

// Node is what the HTTP layer needs of a cluster node.
type Node interface {
	Write(ctx context.Context, key string, w cluster.Write) (cluster.WriteResult, error)
	StoreLocal(ctx context.Context, from netip.Addr, key string, e store.Entry) (store.Entry, error)
	Decide(key string, e store.Entry, cond cluster.Condition) (store.Entry, error)
	Replicate(key string, e store.Entry, writerEpoch uint64) (store.Entry, error)
	ReplicateBatch(rs []cluster.Replica) ([]store.Entry, []error)
	Get(ctx context.Context, key string) (store.Entry, cluster.Source, error)
	GetLocal(key string) (store.Entry, bool)
	ListKeysAfter(after string, fn func(keys []string) error) error
	WriteDump(w io.Writer, values bool) error
	WriteBackup(w io.Writer, begin func(size int64)) error
	Restore(ctx context.Context, r io.Reader) (api.RestoreResult, error)
	Status() cluster.Status
	Ready() bool
	Digest() cluster.Digest
}

var _ Node = (*cluster.Node)(nil)

// Options configure the handler.
type Options struct {
	// MaxValueSize is the largest value accepted, in bytes; larger ones
	// are a 413. 0 means cluster.DefaultMaxValueSize.
	MaxValueSize int64
	// WriteTimeout bounds a write, forwarding included. 0 means 15s.
	WriteTimeout time.Duration
	// DumpTimeout bounds one GET /dump or GET /list from start to end; a
	// stream that has not finished by then is cut (the reader's sync
	// retries a dump). 0 means 10 min: a million entries stream in seconds.
	DumpTimeout time.Duration
	// DumpStreams bounds the GET /dump streams served at once (each holds
	// a read transaction open); more are answered 503. 0 means 4.
	DumpStreams int
	// BackupStreams bounds the GET /backup streams served at once (each
	// holds one read transaction open throughout); more are answered 503.
	// Their time is bounded by DumpTimeout. 0 means 2.
	BackupStreams int
	// Restores bounds the POST /admin/restore served at once; more are
	// answered 503. Their time is bounded by DumpTimeout. 0 means 1.
	Restores int
	// ReplicationStreams bounds the replication streams (GET /replicate)
	// served at once, each holding at most repl's 4 MiB of writes in
	// flight; more are answered 503, and their writers send requests
	// instead. A node opens one to each master. 0 means 256.
	ReplicationStreams int
	// Logger receives request errors. nil means slog.Default().
	Logger *slog.Logger
	// Ring is the cluster key. With one, the node-to-node routes (/local,
	// /dump, /digest) answer only requests that prove it (401 otherwise).
	// nil: they are open to the LAN, as in the original.
	Ring *clusterkey.Ring
	// Tokens are the client tokens. With them, every route but /healthz
	// and /readyz needs one (401), and writes a read-write one (403).
	// nil: the client API is open.
	Tokens *Tokens
}

// Server serves the HTTP API of one node.
type Server struct {
	node Node
	opts Options
	log  *slog.Logger
	met  *metrics
	// The handlers of the routes, by route (routes.go): keyed for the
	// routes with a key, fixed for the others.
	keyed [numRoutes]keyHandler
	fixed [numRoutes]http.HandlerFunc
	// csrf refuses a browser's state-changing request from another origin:
	// a web page a LAN user opens must not write or delete keys.
	csrf *http.CrossOriginProtection
	// dumps holds a token for each GET /dump being served, backups for
	// each GET /backup, restores for each POST /admin/restore.
	dumps, backups, restores chan struct{}
	// streams serves the replication streams (GET /replicate) until
	// Close; replicas holds a token for each.
	streams  *repl.Server
	replicas chan struct{}
}

// New returns the handler of node's HTTP API.
func New(node Node, opts Options) *Server {
	if opts.MaxValueSize == 0 {
		opts.MaxValueSize = cluster.DefaultMaxValueSize
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 15 * time.Second
	}
	if opts.DumpTimeout == 0 {
		opts.DumpTimeout = 10 * time.Minute
	}
	if opts.DumpStreams == 0 {
		opts.DumpStreams = 4
	}
	if opts.BackupStreams == 0 {
		opts.BackupStreams = 2
	}
	if opts.Restores == 0 {
		opts.Restores = 1
	}
	if opts.ReplicationStreams == 0 {
		opts.ReplicationStreams = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{node: node, opts: opts, log: opts.Logger, csrf: http.NewCrossOriginProtection(),
		dumps: make(chan struct{}, opts.DumpStreams), backups: make(chan struct{}, opts.BackupStreams),
		restores: make(chan struct{}, opts.Restores)}
	s.met = newMetrics(node)
	s.streams = repl.NewServer(repl.ApplierFunc(s.applyStream), repl.ServerOptions{})
	s.replicas = make(chan struct{}, opts.ReplicationStreams)
	s.keyed = [numRoutes]keyHandler{
		routeGet:       s.handleGet,
		routeGetLocal:  s.handleGetLocal,
		routeLocal:     s.handleLocal,
		routeDeleteKey: s.handleDelete,
		routePut:       s.handlePut,
		routeDelete:    s.handleDelete,
	}
	s.fixed = [numRoutes]http.HandlerFunc{
		routePage:       s.handleIndex,
		routeForm:       s.handleForm,
		routeLookup:     s.handleLookup,
		routeDeleteForm: s.handleDeleteForm,
		routeList:       s.handleList,
		routeDump:       s.handleDump,
		routeStatus:     s.handleStatus,
		routeDigest:     s.handleDigest,
		routeHealthz:    func(w http.ResponseWriter, _ *http.Request) { plain(w, http.StatusOK, "ok\n") },
		routeReadyz:     s.handleReady,
		routeMetrics:    s.met.handler().ServeHTTP,
		routeBackup:     s.handleBackup,
		routeRestore:    s.handleRestore,
		routeReplicate:  s.handleReplicate,
	}
	return s
}

// ServeHTTP serves one request, counted in the metrics under its route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.met.serve(routeOf(r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type")), w, r, s.serve)
}

// serve hands r to the handler of its route rt.
func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) {
	if err := s.csrf.Check(r); err != nil {
		writeError(w, fmt.Errorf("%w: %v", errCrossOrigin, err))
		return
	}
	if err := s.authorize(rt, w, r); err != nil {
		writeError(w, err)
		return
	}
	if k := keyRoutes[rt]; k.prefix != "" {
		s.serveKey(w, r, k, s.keyed[rt])
		return
	}
	if h := s.fixed[rt]; h != nil {
		h(w, r)
		return
	}
	wrongMethod(w, r.Method, allowedOn(r.URL.EscapedPath()), "this path")
}

// wrongMethod answers 405 with the methods allow that the path takes,
// where is how the answer names the path. A GET of a key's path gets a
// hint: a key is read at /get/<key>.
func wrongMethod(w http.ResponseWriter, method string, allow []string, where string) {
	list := strings.Join(allow, ", ")
	w.Header().Set("Allow", list)
	msg := fmt.Sprintf("%s takes %s", where, list)
	if (method == http.MethodGet || method == http.MethodHead) && !slices.Contains(allow, http.MethodGet) {
		msg += "; read a key with GET /get/<key>"
	}
	writeError(w, fmt.Errorf("%w: %s: %s", errMethod, method, msg))
}

type keyHandler func(w http.ResponseWriter, r *http.Request, key string)

// serveKey checks the method and the key of a request of the key route k
// and hands the key to h.
func (s *Server) serveKey(w http.ResponseWriter, r *http.Request, k keyRoute, h keyHandler) {
	allowed := false
	for _, m := range k.methods {
		allowed = allowed || r.Method == m
	}
	if !allowed {
		wrongMethod(w, r.Method, k.methods, k.prefix+"<key>")
		return
	}
	key, err := keyFromPath(r.URL.EscapedPath(), k.prefix)
	if err != nil {
		writeError(w, err)
		return
	}
	h(w, r, key)
}

// keyFromPath unescapes the key after prefix and checks it.
func keyFromPath(escaped, prefix string) (string, error) {
	key, err := url.PathUnescape(strings.TrimPrefix(escaped, prefix))
	if err != nil {
		return "", fmt.Errorf("%w: bad escape in path", store.ErrBadKey)
	}
	return key, store.CheckKey(key)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, key string) {
	// No deadline of its own: a local hit needs none, and the node bounds
	// a miss (the multicast timeout, then one fetch per holder or master).
	e, src, err := s.node.Get(r.Context(), key)
	if err != nil {
		if errors.Is(err, cluster.ErrNotFound) {
			err = fmt.Errorf("%w: %s", cluster.ErrNotFound, key)
		}
		writeError(w, err)
		return
	}
	writeValue(w, r, e, src)
}

func (s *Server) handleGetLocal(w http.ResponseWriter, r *http.Request, key string) {
	e, ok := s.node.GetLocal(key)
	if !ok {
		writeError(w, fmt.Errorf("%w: %s", cluster.ErrNotFound, key))
		return
	}
	writeValue(w, r, e, cluster.SourceLocal)
}

// writeValue answers with a value, its version and where it came from.
func writeValue(w http.ResponseWriter, r *http.Request, e store.Entry, src cluster.Source) {
	// Keys already in canonical form: no h.Set on the hot path.
	h := w.Header()
	v := e.Version.String()
	etag := `"` + v + `"`
	h["Etag"] = []string{etag}
	h[VersionHeader] = []string{v}
	h["X-Diststore-Source"] = []string{string(src)}
	if e.Expires != 0 {
		h[ExpiresHeader] = []string{strconv.FormatInt(e.Expires, 10)}
	}
	h["Content-Type"] = octetStream
	// A value is whatever a client stored: a browser must not run it.
	h["X-Content-Type-Options"] = nosniff
	h["Content-Security-Policy"] = valueCSP
	h["Content-Length"] = []string{strconv.Itoa(len(e.Value))}
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Value)
	}
}

var (
	octetStream = []string{"application/octet-stream"}
	nosniff     = []string{"nosniff"}
	valueCSP    = []string{"default-src 'none'; sandbox"}
)

// readValue reads a request body of at most MaxValueSize bytes.
func (s *Server) readValue(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxValueSize))
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request, key string) {
	value, err := s.readValue(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	wr, err := writeOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	wr.Value = value
	s.write(w, r, key, wr, false)
}

// handleDelete deletes a key through the cluster: DELETE /<key>, or
// POST /delete/<key> from an HTML form (which answers a browser with a
// redirect to the page).
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, key string) {
	wr, err := writeOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if wr.TTL != 0 {
		writeError(w, fmt.Errorf("%w: a delete takes no ttl", errBadRequest))
		return
	}
	wr.Delete = true
	s.write(w, r, key, wr, r.Method == http.MethodPost && wantsHTML(r))
}

// writeOptions reads a write's ?ttl= and its If-Match / If-None-Match.
func writeOptions(r *http.Request) (cluster.Write, error) {
	var wr cluster.Write
	if t := r.URL.Query().Get("ttl"); t != "" {
		ttl, err := parseTTL(t)
		if err != nil {
			return wr, err
		}
		wr.TTL = ttl
	}
	cond, err := condition(r.Header)
	wr.Cond = cond
	return wr, err
}

// maxTTL bounds a client's ?ttl=.
const maxTTL = 10 * 365 * 24 * time.Hour

// parseTTL takes a Go duration ("30s", "1h") or a number of seconds.
func parseTTL(t string) (time.Duration, error) {
	d, err := time.ParseDuration(t)
	if err != nil {
		secs, err2 := strconv.ParseUint(t, 10, 32)
		if err2 != nil {
			return 0, fmt.Errorf("%w: ttl %q is not a duration (30s, 5m) or a number of seconds", errBadRequest, t)
		}
		d = time.Duration(secs) * time.Second
	}
	if d <= 0 || d > maxTTL {
		return 0, fmt.Errorf("%w: ttl %q must be positive and at most %s", errBadRequest, t, maxTTL)
	}
	return d, nil
}

// condition reads If-Match (an ETag or "*") and If-None-Match (only "*":
// create if absent).
func condition(h http.Header) (cluster.Condition, error) {
	var c cluster.Condition
	if im := strings.TrimSpace(h.Get("If-Match")); im != "" {
		if im == "*" {
			c.IfExists = true
		} else {
			v, err := store.ParseVersion(strings.Trim(strings.TrimPrefix(im, "W/"), `"`))
			if err != nil {
				return c, fmt.Errorf("%w: If-Match %q is not an ETag of this store", errBadRequest, im)
			}
			c.IfMatch = &v
		}
	}
	if inm := strings.TrimSpace(h.Get("If-None-Match")); inm != "" {
		if inm != "*" {
			return c, fmt.Errorf("%w: a write takes only If-None-Match: *", errBadRequest)
		}
		c.IfAbsent = true
	}
	return c, nil
}

// write stores or deletes through the cluster and answers with the
// masters that hold the result, or with a redirect to the page for a
// browser's form.
func (s *Server) write(w http.ResponseWriter, r *http.Request, key string, wr cluster.Write, redirect bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.WriteTimeout)
	defer cancel()
	res, err := s.node.Write(ctx, key, wr)
	var conflict *cluster.ConflictError
	if errors.As(err, &conflict) {
		// Not an error of the node's: say which version won.
		w.Header().Set("ETag", `"`+conflict.Held.String()+`"`)
		writeError(w, err)
		return
	}
	if err != nil {
		s.log.Warn("write failed", "key_len", len(key), "delete", wr.Delete, "err", err)
		writeError(w, err)
		return
	}
	masters := make([]string, len(res.Masters))
	for i, m := range res.Masters {
		masters[i] = m.String()
	}
	h := w.Header()
	h.Set("ETag", `"`+res.Entry.Version.String()+`"`)
	h.Set(VersionHeader, res.Entry.Version.String())
	h.Set("X-Diststore-Masters", strings.Join(masters, ","))
	// How many masters hold it: 1 only while the cluster has one master.
	h.Set("X-Diststore-Copies", strconv.Itoa(len(masters)))
	if redirect {
		what := "stored"
		if wr.Delete {
			what = "deleted"
		}
		http.Redirect(w, r, "/?"+what+"="+url.QueryEscape(key), http.StatusSeeOther)
		return
	}
	if wr.Delete {
		// 200 either way, as the original; the header tells.
		switch res.Existed {
		case cluster.KeyExisted:
			h.Set(ExistedHeader, "true")
		case cluster.KeyAbsent:
			h.Set(ExistedHeader, "false")
			plain(w, http.StatusOK, "deleted on "+strings.Join(masters, ", ")+" (the key did not exist)\n")
			return
		}
		plain(w, http.StatusOK, "deleted on "+strings.Join(masters, ", ")+"\n")
		return
	}
	plain(w, http.StatusOK, "stored on "+strings.Join(masters, ", ")+"\n")
}

// handleLocal stores or deletes on this node only. With X-Diststore-Version
// it is a write another node forwards to this one as a master; without, a
// new local write, optionally conditional.
func (s *Server) handleLocal(w http.ResponseWriter, r *http.Request, key string) {
	var e store.Entry
	if r.Method == http.MethodDelete {
		e.Deleted = true
	} else {
		value, err := s.readValue(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		e.Value = value
	}
	if h := r.Header.Get(ExpiresHeader); h != "" && !e.Deleted {
		ms, err := strconv.ParseInt(h, 10, 64)
		if err != nil || ms <= 0 {
			writeError(w, fmt.Errorf("%w: bad %s %q", errBadRequest, ExpiresHeader, h))
			return
		}
		e.Expires = ms
	}
	var (
		held store.Entry
		err  error
	)
	if h := r.Header.Get(VersionHeader); h != "" {
		if e.Version, err = store.ParseVersion(h); err != nil {
			writeError(w, err)
			return
		}
		var epoch uint64
		if eh := r.Header.Get(EpochHeader); eh != "" {
			if epoch, err = strconv.ParseUint(eh, 10, 64); err != nil {
				writeError(w, fmt.Errorf("%w: bad %s %q", errBadRequest, EpochHeader, eh))
				return
			}
		}
		held, err = s.node.Replicate(key, e, epoch)
	} else {
		cond, cerr := condition(r.Header)
		if cerr != nil {
			writeError(w, cerr)
			return
		}
		if eh := r.Header.Get(EpochHeader); eh != "" {
			if cond.Epoch, err = strconv.ParseUint(eh, 10, 64); err != nil {
				writeError(w, fmt.Errorf("%w: bad %s %q", errBadRequest, EpochHeader, eh))
				return
			}
		}
		if cond.Any() {
			held, err = s.node.Decide(key, e, cond)
		} else {
			held, err = s.node.StoreLocal(r.Context(), remoteAddr(r), key, e)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("ETag", `"`+held.Version.String()+`"`)
	w.Header().Set(VersionHeader, held.Version.String())
	if e.Deleted {
		plain(w, http.StatusOK, "deleted locally\n")
		return
	}
	plain(w, http.StatusOK, "stored locally\n")
}

// handleDump streams every entry. A dump of a large store outlasts the
// server's write timeout, so each write moves the deadline on instead: the
// stream is cut only when the reader stops reading.
func (s *Server) handleDump(w http.ResponseWriter, r *http.Request) {
	select {
	case s.dumps <- struct{}{}:
		defer func() { <-s.dumps }()
	default:
		writeError(w, fmt.Errorf("%w: %d dumps are being served", errBusy, cap(s.dumps)))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), idle: streamWriteIdle,
		end: time.Now().Add(s.opts.DumpTimeout)}
	if err := s.node.WriteDump(dw, r.URL.Query().Get("values") != "0"); err != nil {
		s.log.Warn("dump cut short", "err", err)
	}
}

// streamWriteIdle is how long one write of a dump or a list may take.
const streamWriteIdle = 30 * time.Second

// deadlineWriter sets the connection's write deadline idle ahead of each
// write, but never past end; at end it fails every write.
type deadlineWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	deadline, err := streamDeadline(d.idle, d.end)
	if err != nil {
		return 0, err
	}
	_ = d.rc.SetWriteDeadline(deadline) // not every writer supports it: then the server's timeout stands
	return d.w.Write(p)
}

// streamDeadline is the deadline of a stream's next read or write: idle
// from now, but never past end; at end the stream is over.
func streamDeadline(idle time.Duration, end time.Time) (time.Time, error) {
	now := time.Now()
	if !now.Before(end) {
		return time.Time{}, errStreamTimeout
	}
	if deadline := now.Add(idle); deadline.Before(end) {
		return deadline, nil
	}
	return end, nil
}

// errStreamTimeout ends a dump or a list that ran past
// Options.DumpTimeout.
var errStreamTimeout = errors.New("stream ran past its deadline")

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.status())
}

// status is the node's status, with what this server knows of its
// security.
func (s *Server) status() cluster.Status {
	st := s.node.Status()
	st.Secure = s.opts.Ring != nil
	st.ClientTokens = s.opts.Tokens != nil
	return st
}

// handleDigest answers with a digest of what this node holds durably, to
// compare two masters.
func (s *Server) handleDigest(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.node.Digest())
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.node.Ready() {
		plain(w, http.StatusServiceUnavailable, "not ready: masters not known yet\n")
		return
	}
	plain(w, http.StatusOK, "ready\n")
}

func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if err := store.CheckKey(key); err != nil {
		writeError(w, err)
		return
	}
	// Not http.Redirect: it would clean a key such as ".." out of the path.
	w.Header().Set("Location", "/get/"+url.PathEscape(key))
	w.WriteHeader(http.StatusSeeOther)
}

// etagMatches reports whether an If-None-Match header names etag: a list
// of tags, weak or strong, or "*" (RFC 9110, section 13.1.2).
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// errBadForm is a form POST without a usable key or value; errBadRequest
// any other request that cannot be taken as it is.
var (
	errBadForm    = errors.New("bad form")
	errBadRequest = errors.New("bad request")
)

// handleForm takes the original's form POST: fields key and value,
// urlencoded or multipart.
func (s *Server) handleForm(w http.ResponseWriter, r *http.Request) {
	// Room for the value plus the form's own encoding.
	if !s.parseForm(w, r, 3*s.opts.MaxValueSize+64<<10, s.opts.MaxValueSize+64<<10) {
		return
	}
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	if _, ok := r.PostForm["key"]; !ok {
		writeError(w, fmt.Errorf("%w: missing field \"key\"", errBadForm))
		return
	}
	if _, ok := r.PostForm["value"]; !ok {
		writeError(w, fmt.Errorf("%w: missing field \"value\"", errBadForm))
		return
	}
	key, value := r.PostFormValue("key"), r.PostFormValue("value")
	if err := store.CheckKey(key); err != nil {
		writeError(w, err)
		return
	}
	if int64(len(value)) > s.opts.MaxValueSize {
		writeError(w, fmt.Errorf("%w: %d bytes, at most %d", cluster.ErrTooLarge, len(value), s.opts.MaxValueSize))
		return
	}
	wr := cluster.Write{Value: []byte(value)}
	if t := r.PostFormValue("ttl"); t != "" {
		ttl, err := parseTTL(t)
		if err != nil {
			writeError(w, err)
			return
		}
		wr.TTL = ttl
	}
	s.write(w, r, key, wr, wantsHTML(r))
}

// handleDeleteForm deletes the key named by the form field "key": the
// page's delete button, which cannot put the key in the path without
// JavaScript.
func (s *Server) handleDeleteForm(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r, 64<<10, 64<<10) {
		return
	}
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	if _, ok := r.PostForm["key"]; !ok {
		writeError(w, fmt.Errorf("%w: missing field \"key\" (a POST /delete with a form body deletes the key in field key; to store the key \"delete\", PUT /delete)", errBadForm))
		return
	}
	key := r.PostFormValue("key")
	if err := store.CheckKey(key); err != nil {
		writeError(w, err)
		return
	}
	s.handleDelete(w, r, key)
}

// parseForm reads a form body, urlencoded or multipart, of at most limit
// bytes (a multipart form keeps at most memory of it in memory, the rest
// in temporary files the caller removes). It answers the error itself and
// reports whether the form was read.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request, limit, memory int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		err = r.ParseMultipartForm(memory)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var maxBytes *http.MaxBytesError
		if !errors.As(err, &maxBytes) {
			err = fmt.Errorf("%w: %v", errBadForm, err)
		}
		writeError(w, err)
		return false
	}
	return true
}

// wantsHTML reports whether the client is a browser that prefers a page.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// remoteAddr is the address a request came from; the zero Addr if it
// cannot be told.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
