package repl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Why a write on a stream got no answer. Neither says whether the master
// stored it: it may have, before the stream broke.
var (
	// ErrBroken: the stream ended (the connection failed, a frame did not
	// verify, no ack came within the ack timeout, or it was closed)
	// after the write was sent.
	ErrBroken = errors.New("replication stream broken")
	// ErrNotSent: the stream ended before the write was sent; sending it
	// on a new stream is safe.
	ErrNotSent = errors.New("replication stream ended before the write was sent")
)

// Defaults of ClientOptions and ServerOptions.
const (
	DefaultMaxInFlightBytes = 4 << 20
	DefaultAckTimeout       = 5 * time.Second
	DefaultWriteTimeout     = 5 * time.Second
	DefaultIdleTimeout      = time.Minute
	DefaultServerIdle       = 5 * time.Minute
)

// callOverhead is what one write in flight costs besides its key and
// value, counted against MaxInFlightBytes so that many small writes are
// bounded too.
const callOverhead = 256

// ClientOptions configure the client's end of a stream. Zero means the
// default.
type ClientOptions struct {
	// MaxInFlightBytes bounds the writes queued or sent and not yet
	// acknowledged, keys and values plus 256 bytes each: a Send that
	// would pass it waits (back-pressure) until acks make room or its
	// context ends. Default DefaultMaxInFlightBytes (4 MiB).
	MaxInFlightBytes int64
	// AckTimeout is how long the stream waits for the next ack while
	// writes are in flight; then it is broken. Default 5 s.
	AckTimeout time.Duration
	// WriteTimeout bounds writing one frame. Default 5 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a stream that carried nothing for this long.
	// Default 1 min; it must be shorter than the server's.
	IdleTimeout time.Duration
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return o
}

// Link is an established stream connection: what dialling and the
// handshake gave. Reader holds what was read past the handshake. Send and
// Recv are the stream's frame keys (clusterkey.StreamKeys), both nil on
// an open stream.
type Link struct {
	Conn       net.Conn
	Reader     *bufio.Reader
	Send, Recv []byte
}

// Client is the writer's end of one stream to one master. Send queues a
// write; one goroutine sends whatever is queued as one frame while the
// frame before it is on its way, another matches acks to writes by
// sequence number. Safe for concurrent use.
type Client struct {
	link Link
	opts ClientOptions
	fw   *frameWriter
	fr   *frameReader
	room *semaphore.Weighted // bytes of writes in flight

	mu       sync.Mutex       // guards the fields below and the read deadline
	pending  []*call          // queued, not yet sent
	inflight map[uint64]*call // sent, waiting for their acks
	nextSeq  uint64
	armed    bool  // the read deadline waits for an ack
	err      error // why the stream ended; nil while it works

	kick chan struct{} // wakes the sender; buffered 1
	done chan struct{} // closed when the stream ends
	wg   sync.WaitGroup
}

// call is one write in flight.
type call struct {
	w      Write
	weight int64
	res    Result
	err    error
	done   chan struct{}
}

// NewClient starts the client's end of a stream over link: its sender and
// its reader. Close stops them.
func NewClient(link Link, opts ClientOptions) *Client {
	opts = opts.withDefaults()
	c := &Client{
		link:     link,
		opts:     opts,
		fw:       newFrameWriter(link.Conn, link.Send),
		fr:       newFrameReader(link.Reader, link.Recv),
		room:     semaphore.NewWeighted(opts.MaxInFlightBytes),
		inflight: make(map[uint64]*call),
		nextSeq:  1,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	_ = link.Conn.SetDeadline(time.Time{})
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.sendLoop()
	}()
	go func() {
		defer c.wg.Done()
		c.readLoop()
	}()
	return c
}

// Send sends w on the stream and returns the master's answer. It waits
// for room among the writes in flight, then for the ack, each as long as
// ctx allows. An error is ctx's, or wraps ErrNotSent or ErrBroken; a
// refusal is a Result, not an error. w.Entry.Value must not be larger
// than MaxStreamValue, nor change until Send returns.
func (c *Client) Send(ctx context.Context, w Write) (Result, error) {
	if len(w.Entry.Value) > MaxStreamValue && !w.Entry.Deleted {
		return Result{}, fmt.Errorf("%w: value of %d bytes, at most %d on a stream", ErrFrame, len(w.Entry.Value), MaxStreamValue)
	}
	cl := &call{w: w, weight: int64(w.size()) + callOverhead, done: make(chan struct{})}
	if err := c.room.Acquire(ctx, cl.weight); err != nil {
		return Result{}, err
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.room.Release(cl.weight)
		return Result{}, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	c.pending = append(c.pending, cl)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case <-cl.done:
		return cl.res, cl.err
	case <-ctx.Done():
		// The call stays in flight: its ack (or the stream's end) frees
		// its room.
		return Result{}, ctx.Err()
	}
}

// Err returns why the stream ended, nil while it works.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the stream has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the stream: writes in flight fail with ErrBroken, queued
// ones with ErrNotSent. It waits for the stream's goroutines and is safe
// to call more than once.
func (c *Client) Close() error {
	c.fail(errClosed)
	c.wg.Wait()
	return nil
}

var (
	errClosed = errors.New("closed")
	errIdle   = errors.New("idle")
)

// fail ends the stream with err, once: every write in flight or queued
// gets its error and gives its room back.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending, inflight := c.pending, c.inflight
	c.pending, c.inflight = nil, map[uint64]*call{}
	c.mu.Unlock()
	close(c.done)
	_ = c.link.Conn.Close()
	for _, cl := range pending {
		cl.err = fmt.Errorf("%w: %w", ErrNotSent, err)
		close(cl.done)
		c.room.Release(cl.weight)
	}
	for _, cl := range inflight {
		cl.err = fmt.Errorf("%w: %w", ErrBroken, err)
		close(cl.done)
		c.room.Release(cl.weight)
	}
}

// sendLoop sends what is queued, a frame at a time, until the stream
// ends. It also ends a stream that carried nothing for IdleTimeout.
func (c *Client) sendLoop() {
	var buf []byte
	var batch []Write
	idle := time.NewTimer(c.opts.IdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		case <-idle.C:
			if c.closeIdle() {
				return
			}
			idle.Reset(c.opts.IdleTimeout)
			continue
		}
		// Let the writers that are runnable now queue theirs: one frame
		// for all of them rather than one each, at the cost of a
		// scheduling round, not of a timer.
		runtime.Gosched()
		for {
			c.mu.Lock()
			if c.err != nil {
				c.mu.Unlock()
				return
			}
			if len(c.pending) == 0 {
				c.mu.Unlock()
				break
			}
			// Take what fits in one frame: at least one write.
			n, size := 0, 0
			for n < len(c.pending) && n < MaxBatch {
				s := c.pending[n].w.size()
				if n > 0 && size+s > MaxFrame-64<<10 {
					break
				}
				size += s
				n++
			}
			seq := c.nextSeq
			c.nextSeq += uint64(n)
			batch = batch[:0]
			for i, cl := range c.pending[:n] {
				c.inflight[seq+uint64(i)] = cl
				batch = append(batch, cl.w)
			}
			clear(c.pending[:n])
			c.pending = c.pending[n:]
			if len(c.pending) == 0 {
				c.pending = nil // let the backing array go
			}
			c.mu.Unlock()

			buf = appendWrites(buf[:0], seq, batch)
			clear(batch) // the values belong to the callers
			_ = c.link.Conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
			if err := c.fw.write(frameWrites, buf); err != nil {
				c.fail(fmt.Errorf("send: %w", err))
				return
			}
			c.mu.Lock()
			if !c.armed && c.err == nil && len(c.inflight) > 0 {
				_ = c.link.Conn.SetReadDeadline(time.Now().Add(c.opts.AckTimeout))
				c.armed = true
			}
			c.mu.Unlock()
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(c.opts.IdleTimeout)
	}
}

// closeIdle ends the stream if nothing is queued or in flight, and
// reports whether it did.
func (c *Client) closeIdle() bool {
	c.mu.Lock()
	idle := c.err == nil && len(c.pending) == 0 && len(c.inflight) == 0
	c.mu.Unlock()
	if idle {
		c.fail(errIdle)
	}
	return idle
}

// readLoop matches acks to the writes in flight until the stream ends.
// The read deadline is set only while writes are in flight: a stream that
// waits longer than AckTimeout for the next ack is broken.
func (c *Client) readLoop() {
	for {
		typ, body, err := c.fr.read()
		if err != nil {
			c.fail(fmt.Errorf("receive: %w", err))
			return
		}
		if typ != frameAcks {
			c.fail(fmt.Errorf("%w: unexpected frame type %d", ErrFrame, typ))
			return
		}
		acks, err := decodeAcks(body)
		if err != nil {
			c.fail(err)
			return
		}
		done := make([]*call, 0, len(acks))
		c.mu.Lock()
		for _, a := range acks {
			cl, ok := c.inflight[a.seq]
			if !ok {
				c.mu.Unlock()
				c.fail(fmt.Errorf("%w: ack of write %d, which is not in flight", ErrFrame, a.seq))
				return
			}
			delete(c.inflight, a.seq)
			cl.res = a.res
			done = append(done, cl)
		}
		if len(c.inflight) > 0 {
			_ = c.link.Conn.SetReadDeadline(time.Now().Add(c.opts.AckTimeout))
		} else {
			_ = c.link.Conn.SetReadDeadline(time.Time{})
			c.armed = false
		}
		c.mu.Unlock()
		for _, cl := range done {
			close(cl.done)
			c.room.Release(cl.weight)
		}
	}
}
