package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/diststore/diststore/store"
)

// NextHeader carries the continuation of a page of GET /list: the last
// key of the page, URL-escaped as a query value, to pass as ?after= for
// the next page. It is absent on the last page.
const NextHeader = "X-Diststore-Next"

// Bounds of a page of GET /list.
const (
	// DefaultListLimit is the keys in a page without ?limit=.
	DefaultListLimit = 1000
	// MaxListLimit is the most keys a page holds: 10000 keys of at most
	// 250 bytes are at most 2.5 MB, buffered while the page is read.
	MaxListLimit = 10000
)

// ListQuery is a page of GET /list: the keys with Prefix after the key
// After, at most Limit of them.
type ListQuery struct {
	Prefix, After string
	Limit         int
}

// handleList answers GET /list. Without ?prefix=, ?after= or ?limit= it
// streams every key (streamList). With any of them it answers one page
// of keys in order (listPage), with NextHeader when more follow.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("prefix") && !q.Has("after") && !q.Has("limit") {
		s.streamList(w, r)
		return
	}
	lq, err := parseListQuery(q)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DumpTimeout)
	defer cancel()
	keys, next, err := s.listPage(ctx, lq)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("list failed", "err", err)
		}
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if next != "" {
		h.Set(NextHeader, url.QueryEscape(next))
	}
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	for _, k := range keys {
		_, _ = bw.WriteString(k)
		_ = bw.WriteByte('\n')
	}
	_ = bw.Flush()
}

// parseListQuery reads ?prefix=, ?after= and ?limit=.
func parseListQuery(q url.Values) (ListQuery, error) {
	lq := ListQuery{Prefix: q.Get("prefix"), After: q.Get("after"), Limit: DefaultListLimit}
	if lq.Prefix != "" {
		if err := store.CheckKey(lq.Prefix); err != nil {
			return lq, fmt.Errorf("%w: prefix: %v", errBadRequest, err)
		}
	}
	if lq.After != "" {
		if err := store.CheckKey(lq.After); err != nil {
			return lq, fmt.Errorf("%w: after: %v", errBadRequest, err)
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListLimit {
			return lq, fmt.Errorf("%w: limit %q: want a number from 1 to %d", errBadRequest, l, MaxListLimit)
		}
		lq.Limit = n
	}
	return lq, nil
}

// errPageFull ends the walk of a page.
var errPageFull = errors.New("page full")

// listPage returns at most q.Limit keys with q.Prefix after q.After that
// the node holds, in order, and the key the next page starts after: the
// last one returned, or "" when there are no more. It walks the keys from
// the first that may match and stops at the first past the prefix, so a
// page costs what it holds, however many keys the node has.
func (s *Server) listPage(ctx context.Context, q ListQuery) (keys []string, next string, err error) {
	start := q.After
	if b := keyBefore(q.Prefix); b > start {
		start = b
	}
	more := false
	err = s.node.ListKeysAfter(start, func(chunk []string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, k := range chunk {
			if !strings.HasPrefix(k, q.Prefix) {
				if k > q.Prefix {
					return errPageFull // past every key with the prefix
				}
				continue
			}
			if len(keys) == q.Limit {
				more = true
				return errPageFull
			}
			keys = append(keys, k)
		}
		return nil
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	if err != nil {
		return nil, "", err
	}
	if more {
		next = keys[len(keys)-1]
	}
	return keys, next, nil
}

// keyBefore returns a string that sorts before p and after every valid
// key that sorts before p, so that the keys after it start with the first
// key at or after p: p with its last byte one less, followed by more
// 0xff bytes than a key can hold. "" for "".
func keyBefore(p string) string {
	if p == "" {
		return ""
	}
	last := p[len(p)-1]
	if last == 0 {
		return p[:len(p)-1]
	}
	return p[:len(p)-1] + string([]byte{last - 1}) + strings.Repeat("\xff", store.MaxKeyLen)
}

// streamList streams every key the node holds, one per line, a chunk at a
// time (plain GET /list, as the original answered it): each chunk is written and flushed to the client before the next
// is read, so memory stays bounded by a chunk however many keys there
// are. Like a dump, the stream moves its write deadline on at each write
// and is cut at DumpTimeout; a client that goes away ends the walk.
//
// Unlike dumps, lists are not capped: a list holds no read transaction
// between chunks and buffers a chunk of keys and no value (on a
// non-master, also a string header per cached key, bounded by the cache),
// about what a single PUT buffers for its value.
func (s *Server) streamList(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		return // no body: no need to walk the keys
	}
	rc := http.NewResponseController(w)
	dw := &deadlineWriter{w: w, rc: rc, idle: streamWriteIdle, end: time.Now().Add(s.opts.DumpTimeout)}
	bw := bufio.NewWriterSize(dw, 32<<10)
	ctx := r.Context()
	var clientErr error // why the client's side ended the stream
	wrote := false
	err := s.node.ListKeysAfter("", func(keys []string) error {
		if clientErr = ctx.Err(); clientErr != nil {
			return clientErr // the client went away
		}
		wrote = true
		for _, k := range keys {
			_, _ = bw.WriteString(k)
			_ = bw.WriteByte('\n')
		}
		if clientErr = bw.Flush(); clientErr != nil { // the first error of a write, kept by bw
			return clientErr
		}
		// On to the client now, not when net/http's buffers fill.
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			clientErr = err
		}
		return clientErr
	})
	switch {
	case err == nil:
	case clientErr != nil:
		s.log.Debug("list cut short", "err", err)
	case !wrote:
		s.log.Warn("list failed", "err", err)
		writeError(w, err)
	default:
		// Keys are written: abort the response rather than end it as if
		// the list were whole.
		s.log.Warn("list failed", "err", err)
		panic(http.ErrAbortHandler)
	}
}
