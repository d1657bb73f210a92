package repl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/diststore/diststore/store"
)

// ErrServerClosed: the Server was closed; it takes no new streams.
var ErrServerClosed = errors.New("replication server closed")

// Applier stores the writes streams bring: a master's Replicate. Apply
// stores a batch (at most a frame's writes) and returns a Result for each,
// in order. It is called from many goroutines at once, one per batch in
// flight, so that batches of every stream share the store's commits.
type Applier interface {
	Apply(ws []Write) []Result
}

// ApplierFunc is an Applier of a function.
type ApplierFunc func(ws []Write) []Result

// Apply implements Applier.
func (f ApplierFunc) Apply(ws []Write) []Result { return f(ws) }

// ServerOptions configure the masters' end of streams. Zero means the
// default.
type ServerOptions struct {
	// MaxInFlightBytes bounds, per stream, the writes read and not yet
	// acknowledged (keys, values and 256 bytes each): past it the stream
	// is not read until acks make room, which holds the writer back.
	// Default DefaultMaxInFlightBytes (4 MiB).
	MaxInFlightBytes int64
	// IdleTimeout ends a stream that brought no frame for this long.
	// Default 5 min: longer than a client's.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one frame of acks. Default 5 s.
	WriteTimeout time.Duration
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultServerIdle
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o
}

// Server serves the masters' end of streams: it reads batches of writes,
// applies each (concurrently, within a stream's in-flight bound) and
// answers with acks by sequence number, batched as they complete. It
// owns every stream it serves until Close.
type Server struct {
	app  Applier
	opts ServerOptions

	mu       sync.Mutex // guards sessions and closed
	sessions map[*session]struct{}
	closed   bool
	wg       sync.WaitGroup // the sessions being served
}

// NewServer returns a Server that applies writes with app.
func NewServer(app Applier, opts ServerOptions) *Server {
	return &Server{app: app, opts: opts.withDefaults(), sessions: map[*session]struct{}{}}
}

// session is one stream being served.
type session struct {
	srv    *Server
	link   Link
	fr     *frameReader
	fw     *frameWriter
	room   *semaphore.Weighted
	ctx    context.Context // cancelled when the stream must stop reading
	cancel context.CancelFunc

	mu   sync.Mutex // guards acks
	acks []pendingAck

	kick     chan struct{}  // wakes the ack writer; buffered 1
	applying sync.WaitGroup // writes being applied
	finish   chan struct{}  // closed once no more acks will come
}

type pendingAck struct {
	ack
	weight int64
}

// Serve serves one stream over link until it ends (the client closes it,
// a frame breaks the format or does not verify, it stays idle, or Close)
// and returns why; the connection is closed. Writes read before the end
// are applied and acknowledged, if the connection still takes acks.
func (s *Server) Serve(link Link) error {
	ss := &session{
		srv:    s,
		link:   link,
		fr:     newFrameReader(link.Reader, link.Recv),
		fw:     newFrameWriter(link.Conn, link.Send),
		room:   semaphore.NewWeighted(s.opts.MaxInFlightBytes),
		kick:   make(chan struct{}, 1),
		finish: make(chan struct{}),
	}
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	defer ss.cancel()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = link.Conn.Close()
		return ErrServerClosed
	}
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		s.wg.Done()
	}()
	_ = link.Conn.SetDeadline(time.Time{})

	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		ss.ackLoop()
	}()
	err := ss.readLoop()
	ss.applying.Wait()
	close(ss.finish)
	writer.Wait()
	_ = link.Conn.Close()
	return err
}

// Close ends every stream: each stops reading, finishes applying and
// acknowledging what it read, and closes. New streams are refused. It
// waits for them and is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ss := range s.sessions {
		ss.stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// stop makes the session stop reading.
func (ss *session) stop() {
	ss.cancel()
	_ = ss.link.Conn.SetReadDeadline(time.Now())
}

// readLoop reads frames of writes and starts applying each, until the
// stream ends; it returns why.
func (ss *session) readLoop() error {
	for {
		_ = ss.link.Conn.SetReadDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
		// After the deadline is set: stop cancels, then sets a deadline
		// of now, so one of the two ends this loop.
		if ss.ctx.Err() != nil {
			return ErrServerClosed
		}
		typ, body, err := ss.fr.read()
		if err != nil {
			if ss.ctx.Err() != nil {
				return ErrServerClosed
			}
			return fmt.Errorf("receive: %w", err)
		}
		if typ != frameWrites {
			return fmt.Errorf("%w: unexpected frame type %d", ErrFrame, typ)
		}
		ws, err := decodeWrites(body)
		if err != nil {
			return err
		}
		// A frame is applied as one batch, or as several when it is
		// larger than the room a stream has.
		for len(ws) > 0 {
			n, weight := 0, int64(0)
			for n < len(ws) {
				w := int64(ws[n].w.size()) + callOverhead
				if n > 0 && weight+w > ss.srv.opts.MaxInFlightBytes {
					break
				}
				weight += w
				n++
			}
			chunk := ws[:n]
			ws = ws[n:]
			if err := ss.room.Acquire(ss.ctx, min(weight, ss.srv.opts.MaxInFlightBytes)); err != nil {
				return ErrServerClosed // stopped while held back; the rest is not acked
			}
			ss.applying.Add(1)
			go ss.apply(chunk, min(weight, ss.srv.opts.MaxInFlightBytes))
		}
	}
}

// apply applies a batch and queues its acks, which hold its room until
// they are written.
func (ss *session) apply(batch []seqWrite, weight int64) {
	defer ss.applying.Done()
	out := make([]Result, len(batch))
	ws := make([]Write, 0, len(batch))
	at := make([]int, 0, len(batch)) // ws[j] is batch[at[j]]
	for i, sw := range batch {
		if err := store.CheckKey(sw.w.Key); err != nil {
			out[i] = Result{Code: CodeRefused, Msg: "400 Bad Request: " + err.Error()}
			continue
		}
		ws = append(ws, sw.w)
		at = append(at, i)
	}
	if len(ws) > 0 {
		res := ss.srv.app.Apply(ws)
		for j, i := range at {
			if j < len(res) {
				out[i] = res[j]
			} else {
				out[i] = Result{Code: CodeRefused, Msg: "no result"}
			}
		}
	}
	ss.mu.Lock()
	for i, sw := range batch {
		r := out[i]
		var w int64
		if i == 0 {
			w = weight // the batch's room goes back with its first ack
		}
		ss.acks = append(ss.acks, pendingAck{ack{sw.seq, r}, w})
	}
	ss.mu.Unlock()
	select {
	case ss.kick <- struct{}{}:
	default:
	}
}

// ackLoop writes the acks of applied writes, whatever is ready as one
// frame, until finish; then it writes what is left and returns. After a
// failed write it only gives the acks' room back: the client sees the
// stream broken.
func (ss *session) ackLoop() {
	var buf []byte
	var batch []ack
	broken := false
	for {
		last := false
		select {
		case <-ss.kick:
		case <-ss.finish:
			last = true
		}
		runtime.Gosched() // as the client's sender: one frame for the acks ready together
		for {
			ss.mu.Lock()
			n := min(len(ss.acks), MaxBatch)
			if n == 0 {
				ss.mu.Unlock()
				break
			}
			taken := make([]pendingAck, n)
			copy(taken, ss.acks[:n])
			ss.acks = ss.acks[n:]
			if len(ss.acks) == 0 {
				ss.acks = nil
			}
			ss.mu.Unlock()
			if !broken {
				batch = batch[:0]
				for _, pa := range taken {
					batch = append(batch, pa.ack)
				}
				buf = appendAcks(buf[:0], batch)
				_ = ss.link.Conn.SetWriteDeadline(time.Now().Add(ss.srv.opts.WriteTimeout))
				if err := ss.fw.write(frameAcks, buf); err != nil {
					broken = true
					ss.cancel()
					_ = ss.link.Conn.Close() // the reader ends too
				}
			}
			var w int64
			for _, pa := range taken {
				w += pa.weight
			}
			ss.room.Release(w)
		}
		if last {
			return
		}
	}
}

// Addr is the remote address of a link, for logs.
func (l Link) Addr() net.Addr { return l.Conn.RemoteAddr() }
