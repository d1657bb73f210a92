package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// BackupContentType is the media type of GET /backup: a bbolt file.
const BackupContentType = "application/vnd.diststore.backup"

// handleBackup streams a consistent copy of the node's store (a synced
// master's only: Node.WriteBackup refuses elsewhere) with its size in
// Content-Length. At most BackupStreams at once, each cut at DumpTimeout
// and whenever one write waits streamWriteIdle for the client: the copy
// holds a read transaction open, which a write that must grow the file
// waits for.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	select {
	case s.backups <- struct{}{}:
		defer func() { <-s.backups }()
	default:
		writeError(w, fmt.Errorf("%w: %d backups are being served", errBusy, cap(s.backups)))
		return
	}
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), idle: streamWriteIdle,
		end: time.Now().Add(s.opts.DumpTimeout)}
	// Named before the copy begins: inside it, the node's store holds a
	// read transaction, and Status would open another.
	name := `attachment; filename="diststore-` + s.node.Status().Addr + `.db"`
	began := false
	err := s.node.WriteBackup(writerFunc(func(p []byte) (int, error) {
		if r.Method == http.MethodHead {
			return len(p), errHeadOnly
		}
		return dw.Write(p)
	}), func(size int64) {
		began = true
		h := w.Header()
		h.Set("Content-Type", BackupContentType)
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", name)
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	})
	switch {
	case err == nil, errors.Is(err, errHeadOnly):
	case !began:
		writeError(w, err)
	default:
		// Cut short: abort the response, so the client cannot take a
		// part for the whole (Content-Length says so too).
		s.log.Warn("backup cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// errHeadOnly ends the copy of a HEAD request once the headers are set.
var errHeadOnly = errors.New("HEAD: no body")

// writerFunc is a function as an io.Writer.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// handleRestore stores the entries of a dump stream in the request body
// (the dump format, store.ReadDump) on this node, a master, each with its
// own version (Node.Restore), and answers with what it did as JSON
// (api.RestoreResult). The body is read with a deadline that moves on
// with every read, never past DumpTimeout; a value is bounded by
// MaxValueSize and a line by the dump reader. One restore at a time
// (Restores).
func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	select {
	case s.restores <- struct{}{}:
		defer func() { <-s.restores }()
	default:
		writeError(w, fmt.Errorf("%w: %d restores are running", errBusy, cap(s.restores)))
		return
	}
	rc := http.NewResponseController(w)
	body := &deadlineReader{r: r.Body, rc: rc, idle: streamWriteIdle, end: time.Now().Add(s.opts.DumpTimeout)}
	res, err := s.node.Restore(r.Context(), body)
	// The server's write timeout runs from the request's start: a restore
	// may outlast it, and still answers.
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteIdle))
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("restore failed", "err", err, "read", res.Read, "applied", res.Applied)
		}
		writeError(w, fmt.Errorf("%w (after %d entries read, %d stored)", err, res.Read, res.Applied))
		return
	}
	writeJSON(w, res)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// deadlineReader sets the connection's read deadline idle ahead of each
// read of a request body, but never past end; at end it fails every read.
type deadlineReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	deadline, err := streamDeadline(d.idle, d.end)
	if err != nil {
		return 0, err
	}
	_ = d.rc.SetReadDeadline(deadline) // not every server supports it: then its timeout stands
	return d.r.Read(p)
}
