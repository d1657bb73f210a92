package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/store"
)

// Node is what the HTTP layer needs of a cluster node.
type Node interface {
	Put(ctx context.Context, key string, value []byte) (cluster.WriteResult, error)
	PutLocal(key string, value []byte, v store.Version) (store.Entry, error)
	Get(ctx context.Context, key string) (store.Entry, cluster.Source, error)
	GetLocal(key string) (store.Entry, bool)
	Keys() []string
	WriteDump(w io.Writer) error
	Status() cluster.Status
	Ready() bool
}

var _ Node = (*cluster.Node)(nil)

// Options configure the handler.
type Options struct {
	// MaxValueSize is the largest value accepted, in bytes; larger ones
	// are a 413. 0 means cluster.DefaultMaxValueSize.
	MaxValueSize int64
	// GetTimeout bounds a GET that asks the cluster. 0 means 10s.
	GetTimeout time.Duration
	// WriteTimeout bounds a write, forwarding included. 0 means 15s.
	WriteTimeout time.Duration
	// Logger receives request errors. nil means slog.Default().
	Logger *slog.Logger
}

// Server serves the HTTP API of one node.
type Server struct {
	node Node
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux // routes without a key
}

// New returns the handler of node's HTTP API.
func New(node Node, opts Options) *Server {
	if opts.MaxValueSize == 0 {
		opts.MaxValueSize = cluster.DefaultMaxValueSize
	}
	if opts.GetTimeout == 0 {
		opts.GetTimeout = 10 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{node: node, opts: opts, log: opts.Logger}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
	s.mux.HandleFunc("POST /{$}", s.handleForm)
	s.mux.HandleFunc("GET /lookup", s.handleLookup)
	s.mux.HandleFunc("GET /list", s.handleList)
	s.mux.HandleFunc("GET /dump", s.handleDump)
	s.mux.HandleFunc("GET /status", s.handleStatus)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { plain(w, http.StatusOK, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	return s
}

// ServeHTTP routes key paths on the escaped path's first segment, so a
// key is never cleaned or redirected, and hands everything else to the
// mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/get/"):
		s.keyRoute(w, r, "/get/", s.handleGet, http.MethodGet, http.MethodHead)
	case strings.HasPrefix(p, "/getlocal/"):
		s.keyRoute(w, r, "/getlocal/", s.handleGetLocal, http.MethodGet, http.MethodHead)
	case strings.HasPrefix(p, "/local/"):
		s.keyRoute(w, r, "/local/", s.handlePutLocal, http.MethodPost, http.MethodPut)
	case p != "/" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.keyRoute(w, r, "/", s.handlePut, http.MethodPost, http.MethodPut)
	default:
		s.mux.ServeHTTP(w, r)
	}
}

type keyHandler func(w http.ResponseWriter, r *http.Request, key string)

func (s *Server) keyRoute(w http.ResponseWriter, r *http.Request, prefix string, h keyHandler, methods ...string) {
	allowed := false
	for _, m := range methods {
		allowed = allowed || r.Method == m
	}
	if !allowed {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, fmt.Errorf("%w: %s %s", errMethod, r.Method, prefix+"<key>"))
		return
	}
	key, err := keyFromPath(r.URL.EscapedPath(), prefix)
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
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.GetTimeout)
	defer cancel()
	e, src, err := s.node.Get(ctx, key)
	if err != nil {
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
	h := w.Header()
	etag := `"` + e.Version.String() + `"`
	h.Set("ETag", etag)
	h.Set(cluster.VersionHeader, e.Version.String())
	h.Set("X-Diststore-Source", string(src))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(e.Value)))
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Value)
	}
}

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
	s.put(w, r, key, value, false)
}

// put stores a value through the cluster and answers with the masters
// that hold it, or with a redirect to the page for a browser's form.
func (s *Server) put(w http.ResponseWriter, r *http.Request, key string, value []byte, redirect bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.WriteTimeout)
	defer cancel()
	res, err := s.node.Put(ctx, key, value)
	if err != nil {
		s.log.Warn("write failed", "key_len", len(key), "err", err)
		writeError(w, err)
		return
	}
	masters := make([]string, len(res.Masters))
	for i, m := range res.Masters {
		masters[i] = m.String()
	}
	h := w.Header()
	h.Set("ETag", `"`+res.Entry.Version.String()+`"`)
	h.Set(cluster.VersionHeader, res.Entry.Version.String())
	h.Set("X-Diststore-Masters", strings.Join(masters, ","))
	if redirect {
		http.Redirect(w, r, "/?stored="+url.QueryEscape(key), http.StatusSeeOther)
		return
	}
	plain(w, http.StatusOK, "stored on "+strings.Join(masters, ", ")+"\n")
}

func (s *Server) handlePutLocal(w http.ResponseWriter, r *http.Request, key string) {
	value, err := s.readValue(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var v store.Version
	if h := r.Header.Get(cluster.VersionHeader); h != "" {
		if v, err = store.ParseVersion(h); err != nil {
			writeError(w, err)
			return
		}
	}
	e, err := s.node.PutLocal(key, value, v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("ETag", `"`+e.Version.String()+`"`)
	w.Header().Set(cluster.VersionHeader, e.Version.String())
	plain(w, http.StatusOK, "stored locally\n")
}

func (s *Server) handleList(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bw := bufio.NewWriter(w)
	for _, k := range s.node.Keys() {
		_, _ = bw.WriteString(k)
		_ = bw.WriteByte('\n')
	}
	_ = bw.Flush()
}

func (s *Server) handleDump(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := s.node.WriteDump(w); err != nil {
		s.log.Warn("dump cut short", "err", err)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.node.Status())
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

// errBadForm is a form POST without a usable key or value.
var errBadForm = errors.New("bad form")

// handleForm takes the original's form POST: fields key and value,
// urlencoded or multipart.
func (s *Server) handleForm(w http.ResponseWriter, r *http.Request) {
	// Room for the value plus the form's own encoding.
	r.Body = http.MaxBytesReader(w, r.Body, 3*s.opts.MaxValueSize+64<<10)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(s.opts.MaxValueSize + 64<<10)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var maxBytes *http.MaxBytesError
		if !errors.As(err, &maxBytes) {
			err = fmt.Errorf("%w: %v", errBadForm, err)
		}
		writeError(w, err)
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
	s.put(w, r, key, []byte(value), wantsHTML(r))
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
