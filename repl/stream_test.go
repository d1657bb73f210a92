package repl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/store"
)

var (
	keyC2S = []byte("client to server, 32 bytes......")
	keyS2C = []byte("server to client, 32 bytes......")
)

// fakeMaster is the master's end of a stream that the test reads and
// answers frame by frame.
type fakeMaster struct {
	t    *testing.T
	conn net.Conn
	fr   *frameReader
	fw   *frameWriter
}

// pipeLinks returns both ends of a stream over net.Pipe, keyed or open.
func pipeLinks(keyed bool) (client, server Link) {
	a, b := net.Pipe()
	client = Link{Conn: a, Reader: bufio.NewReader(a)}
	server = Link{Conn: b, Reader: bufio.NewReader(b)}
	if keyed {
		client.Send, client.Recv = keyC2S, keyS2C
		server.Send, server.Recv = keyS2C, keyC2S
	}
	return client, server
}

// newClientPair starts a Client over a pipe to a fakeMaster.
func newClientPair(t *testing.T, opts ClientOptions) (*Client, *fakeMaster) {
	t.Helper()
	cl, sv := pipeLinks(true)
	c := NewClient(cl, opts)
	t.Cleanup(func() { _ = c.Close() })
	m := &fakeMaster{t: t, conn: sv.Conn, fr: newFrameReader(sv.Reader, sv.Recv), fw: newFrameWriter(sv.Conn, sv.Send)}
	t.Cleanup(func() { _ = m.conn.Close() })
	return c, m
}

// next reads the next frame of writes.
func (m *fakeMaster) next() []seqWrite {
	m.t.Helper()
	typ, body, err := m.fr.read()
	require.NoError(m.t, err)
	require.Equal(m.t, frameWrites, typ)
	ws, err := decodeWrites(body)
	require.NoError(m.t, err)
	return ws
}

func (m *fakeMaster) ack(acks ...ack) {
	m.t.Helper()
	require.NoError(m.t, m.fw.write(frameAcks, appendAcks(nil, acks)))
}

func write(i int) Write {
	return Write{Key: fmt.Sprintf("k%d", i), Entry: store.Entry{Value: []byte("value"), Version: store.Version{Clock: uint64(i + 1), Node: 1}}}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sendAll sends writes 0..n-1 at once; results and errors by index.
func sendAll(ctx context.Context, c *Client, n int) ([]Result, []error, *sync.WaitGroup) {
	res, errs := make([]Result, n), make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = c.Send(ctx, write(i))
		}()
	}
	return res, errs, &wg
}

// queued is how many writes wait to be sent.
func (c *Client) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// sent is how many writes are in flight.
func (c *Client) sent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight)
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestClient_Batching: writes that arrive while a frame is on its way go
// together in the next one, not one frame each.
func TestClient_Batching(t *testing.T) {
	c, m := newClientPair(t, ClientOptions{})
	const n = 100
	_, errs, wg := sendAll(ctxT(t, 5*time.Second), c, n)
	// The pipe holds the sender until the master reads: while it writes a
	// frame, the rest queue behind it.
	eventually(t, func() bool { return c.queued()+c.sent() == n }, "every write to be queued or sent")
	var got []seqWrite
	frames := 0
	for len(got) < n {
		got = append(got, m.next()...)
		frames++
	}
	assert.LessOrEqual(t, frames, 3, "the writes queued behind a frame go together in the next")
	var acks []ack
	for _, sw := range got {
		acks = append(acks, ack{sw.seq, Result{Code: CodeOK, Held: sw.w.Entry.Version}})
	}
	m.ack(acks...)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "write %d", i)
	}
}

// TestClient_AcksBySequenceNumber: acks in any order, in any grouping,
// reach the writes they answer.
func TestClient_AcksBySequenceNumber(t *testing.T) {
	c, m := newClientPair(t, ClientOptions{})
	const n = 20
	res, errs, wg := sendAll(ctxT(t, 5*time.Second), c, n)
	var got []seqWrite
	for len(got) < n {
		got = append(got, m.next()...)
	}
	// Answer backwards, in three frames, each write with its own result.
	bySeq := map[uint64]Write{}
	for _, sw := range got {
		bySeq[sw.seq] = sw.w
	}
	var acks []ack
	for i := len(got) - 1; i >= 0; i-- {
		sw := got[i]
		r := Result{Code: CodeOK, Held: sw.w.Entry.Version}
		if sw.w.Key == "k3" {
			r = Result{Code: CodeNotMaster, Msg: "not for " + sw.w.Key}
		}
		acks = append(acks, ack{sw.seq, r})
	}
	m.ack(acks[:5]...)
	m.ack(acks[5:6]...)
	m.ack(acks[6:]...)
	wg.Wait()
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		if i == 3 {
			assert.Equal(t, Result{Code: CodeNotMaster, Msg: "not for k3"}, res[i])
			continue
		}
		assert.Equal(t, Result{Code: CodeOK, Held: write(i).Entry.Version}, res[i], "write %d", i)
	}
}

// TestClient_AckOfUnknownWriteBreaksTheStream: an ack of nothing in flight
// is a protocol error: every write waiting fails.
func TestClient_AckOfUnknownWriteBreaksTheStream(t *testing.T) {
	c, m := newClientPair(t, ClientOptions{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(ctxT(t, 5*time.Second), write(0))
		done <- err
	}()
	ws := m.next()
	m.ack(ack{ws[0].seq + 100, Result{Code: CodeOK, Held: v1}})
	assert.ErrorIs(t, <-done, ErrBroken)
	assert.ErrorIs(t, c.Err(), ErrFrame)
}

// TestClient_BackPressure: past MaxInFlightBytes a Send waits for room,
// as long as its context allows; acks make room.
func TestClient_BackPressure(t *testing.T) {
	one := int64(write(0).size()) + callOverhead
	c, m := newClientPair(t, ClientOptions{MaxInFlightBytes: 2 * one})
	_, errs, wg := sendAll(ctxT(t, 5*time.Second), c, 2)
	var got []seqWrite
	for len(got) < 2 {
		got = append(got, m.next()...)
	}
	// No room for a third: it waits, then gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, write(2))
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// An ack makes room for it.
	third := make(chan error, 1)
	go func() {
		_, err := c.Send(ctxT(t, 5*time.Second), write(2))
		third <- err
	}()
	m.ack(ack{got[0].seq, Result{Code: CodeOK, Held: v1}})
	ws := m.next()
	require.Len(t, ws, 1)
	assert.Equal(t, "k2", ws[0].w.Key)
	m.ack(ack{got[1].seq, Result{Code: CodeOK, Held: v1}}, ack{ws[0].seq, Result{Code: CodeOK, Held: v1}})
	assert.NoError(t, <-third)
	wg.Wait()
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
}

// TestClient_StalledMaster: a master that reads but never answers breaks
// the stream after AckTimeout; every write in flight fails, none hangs.
func TestClient_StalledMaster(t *testing.T) {
	c, m := newClientPair(t, ClientOptions{AckTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, errs, wg := sendAll(ctxT(t, 10*time.Second), c, 5)
	go func() {
		for {
			if _, _, err := m.fr.read(); err != nil {
				return
			}
		}
	}()
	wg.Wait()
	for i, err := range errs {
		assert.ErrorIs(t, err, ErrBroken, "write %d", i)
	}
	assert.Less(t, time.Since(start), 5*time.Second)
	var ne net.Error
	assert.True(t, errors.As(c.Err(), &ne) && ne.Timeout(), "broken by the ack deadline: %v", c.Err())
}

// TestClient_MasterDiesMidBatch: the writes a master acked before it died
// succeed; the rest of the frame fails with ErrBroken (they may or may not
// be stored: the caller checks the master), and later writes are not sent.
func TestClient_MasterDiesMidBatch(t *testing.T) {
	c, m := newClientPair(t, ClientOptions{})
	const n = 10
	res, errs, wg := sendAll(ctxT(t, 5*time.Second), c, n)
	var got []seqWrite
	for len(got) < n {
		got = append(got, m.next()...)
	}
	acked := map[string]bool{}
	var acks []ack
	for _, sw := range got[:4] {
		acks = append(acks, ack{sw.seq, Result{Code: CodeOK, Held: sw.w.Entry.Version}})
		acked[sw.w.Key] = true
	}
	m.ack(acks...)
	require.NoError(t, m.conn.Close())
	wg.Wait()
	for i := 0; i < n; i++ {
		if acked[write(i).Key] {
			assert.NoError(t, errs[i])
			assert.Equal(t, CodeOK, res[i].Code)
		} else {
			assert.ErrorIs(t, errs[i], ErrBroken, "write %d", i)
		}
	}
	_, err := c.Send(ctxT(t, time.Second), write(n))
	assert.ErrorIs(t, err, ErrNotSent)
}

// TestClient_Idle: a stream that carried nothing for IdleTimeout ends
// by itself, with nothing in flight to fail.
func TestClient_Idle(t *testing.T) {
	c, _ := newClientPair(t, ClientOptions{IdleTimeout: 20 * time.Millisecond})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an idle stream stayed open")
	}
	assert.ErrorIs(t, c.Err(), errIdle)
}

// applyAll is an Applier that stores into a map, optionally held until
// release is closed.
type applyAll struct {
	mu      sync.Mutex
	stored  map[string]store.Entry
	release chan struct{}
	once    sync.Once
	active  atomic.Int64
	peak    atomic.Int64
}

func newApplyAll(hold bool) *applyAll {
	a := &applyAll{stored: map[string]store.Entry{}}
	if hold {
		a.release = make(chan struct{})
	}
	return a
}

// Apply counts the writes being applied (active, and its peak), then
// stores them, unless held.
func (a *applyAll) Apply(ws []Write) []Result {
	n := a.active.Add(int64(len(ws)))
	for {
		p := a.peak.Load()
		if n <= p || a.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer a.active.Add(-int64(len(ws)))
	if a.release != nil {
		<-a.release
	}
	out := make([]Result, len(ws))
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, w := range ws {
		if w.Key == "refuse" {
			out[i] = Result{Code: CodeRefused, Msg: "refused"}
			continue
		}
		a.stored[w.Key] = w.Entry
		out[i] = Result{Code: CodeOK, Held: w.Entry.Version}
	}
	return out
}

// unblock lets every Apply held, and those to come, go on.
func (a *applyAll) unblock() { a.once.Do(func() { close(a.release) }) }

func (a *applyAll) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.stored)
}

// serve runs srv on the server end of a pipe and returns the client.
func serve(t *testing.T, srv *Server, keyed bool, opts ClientOptions) (*Client, chan error) {
	t.Helper()
	cl, sv := pipeLinks(keyed)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sv) }()
	c := NewClient(cl, opts)
	t.Cleanup(func() { _ = c.Close() })
	return c, done
}

// TestStream_EndToEnd: writes through a Client and a Server reach the
// Applier, and each gets its own answer.
func TestStream_EndToEnd(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			app := newApplyAll(false)
			srv := NewServer(app, ServerOptions{})
			t.Cleanup(func() { _ = srv.Close() })
			c, _ := serve(t, srv, keyed, ClientOptions{})
			const n = 300
			res, errs, wg := sendAll(ctxT(t, 10*time.Second), c, n)
			wg.Wait()
			for i := 0; i < n; i++ {
				require.NoError(t, errs[i])
				assert.Equal(t, Result{Code: CodeOK, Held: write(i).Entry.Version}, res[i])
			}
			assert.Equal(t, n, app.len())
			r, err := c.Send(ctxT(t, 5*time.Second), Write{Key: "refuse", Entry: store.Entry{Value: []byte("v"), Version: v1}})
			require.NoError(t, err)
			assert.Equal(t, Result{Code: CodeRefused, Msg: "refused"}, r)

			// A bad key is refused as a write; the stream goes on.
			for _, bad := range []string{"a b", ""} {
				r, err = c.Send(ctxT(t, 5*time.Second), Write{Key: bad, Entry: store.Entry{Value: []byte("v"), Version: v1}})
				require.NoError(t, err)
				assert.Equal(t, CodeRefused, r.Code)
				assert.Contains(t, r.Msg, "bad key")
			}
			r, err = c.Send(ctxT(t, 5*time.Second), write(n))
			require.NoError(t, err)
			assert.Equal(t, CodeOK, r.Code)
			assert.Equal(t, n+1, app.len())
		})
	}
}

// TestServer_BackPressure: a master whose writes do not complete stops
// reading the stream at its bound, so the writer is held back; nothing
// piles up in its memory.
func TestServer_BackPressure(t *testing.T) {
	app := newApplyAll(true)
	// Room for three writes whatever their keys' lengths (k0..k49).
	one := int64(write(10).size()) + callOverhead
	srv := NewServer(app, ServerOptions{MaxInFlightBytes: 3 * one})
	t.Cleanup(func() { _ = srv.Close() })
	t.Cleanup(app.unblock)
	c, _ := serve(t, srv, false, ClientOptions{})
	const n = 50
	_, errs, wg := sendAll(ctxT(t, 10*time.Second), c, n)
	eventually(t, func() bool { return app.active.Load() > 0 }, "writes to be applied")
	time.Sleep(50 * time.Millisecond) // were it to read on, it would start more
	assert.LessOrEqual(t, app.active.Load(), int64(3), "at most three writes in flight on the master")
	assert.Zero(t, app.len())
	app.unblock()
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "write %d", i)
	}
	assert.LessOrEqual(t, app.peak.Load(), int64(3))
	assert.Equal(t, n, app.len())
}

// TestServer_CloseFinishesWhatItRead: Close stops reading, lets the writes
// in flight finish, acknowledges them, then ends the stream; it waits for
// all of that.
func TestServer_CloseFinishesWhatItRead(t *testing.T) {
	app := newApplyAll(true)
	srv := NewServer(app, ServerOptions{})
	t.Cleanup(func() { _ = srv.Close() })
	t.Cleanup(app.unblock)
	c, served := serve(t, srv, true, ClientOptions{})
	const n = 10
	res, errs, wg := sendAll(ctxT(t, 10*time.Second), c, n)
	eventually(t, func() bool { return app.active.Load() == n }, "every write to be applied")
	closed := make(chan struct{})
	go func() {
		_ = srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while writes were being applied")
	case <-time.After(20 * time.Millisecond):
	}
	app.unblock()
	<-closed
	wg.Wait()
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i], "a write the master read is acknowledged")
		assert.Equal(t, CodeOK, res[i].Code)
	}
	assert.ErrorIs(t, <-served, ErrServerClosed)
	_, err := c.Send(ctxT(t, 5*time.Second), write(n))
	assert.Error(t, err, "the stream is over")

	// A closed server takes no new stream.
	_, sv := pipeLinks(false)
	assert.ErrorIs(t, srv.Serve(sv), ErrServerClosed)
}

// TestServer_BadFrameEndsTheStream: garbage, or a frame that does not
// verify, ends the stream; nothing of it is applied.
func TestServer_BadFrameEndsTheStream(t *testing.T) {
	tests := map[string]func(Link) error{
		"garbage": func(l Link) error {
			_, err := l.Conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			return err
		},
		"forged frame": func(l Link) error {
			fw := newFrameWriter(l.Conn, []byte("not the stream's key, 32 bytes.."))
			return fw.write(frameWrites, appendWrites(nil, 1, []Write{write(0)}))
		},
		"unsigned frame": func(l Link) error {
			return newFrameWriter(l.Conn, nil).write(frameWrites, appendWrites(nil, 1, []Write{write(0)}))
		},
		"acks to the master": func(l Link) error {
			return newFrameWriter(l.Conn, l.Send).write(frameAcks, appendAcks(nil, []ack{{1, Result{Code: CodeOK, Held: v1}}}))
		},
	}
	for name, send := range tests {
		t.Run(name, func(t *testing.T) {
			app := newApplyAll(false)
			srv := NewServer(app, ServerOptions{})
			t.Cleanup(func() { _ = srv.Close() })
			cl, sv := pipeLinks(true)
			done := make(chan error, 1)
			go func() { done <- srv.Serve(sv) }()
			go func() { _ = send(cl) }()
			select {
			case err := <-done:
				assert.Error(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("the stream went on")
			}
			assert.Zero(t, app.len())
			_ = cl.Conn.Close()
		})
	}
}

// TestPool_NewStreamAfterOneEnds: when a master's stream ends, the next
// write opens a new one; a node that does not serve streams is not asked
// again for a while.
func TestPool_NewStreamAfterOneEnds(t *testing.T) {
	app := newApplyAll(false)
	srv := NewServer(app, ServerOptions{})
	t.Cleanup(func() { _ = srv.Close() })
	to := netip.MustParseAddrPort("127.0.2.1:8181")
	other := netip.MustParseAddrPort("127.0.2.2:8181")
	var dials, unsupported atomic.Int64
	var last atomic.Pointer[net.Conn]
	p := NewPool(func(ctx context.Context, addr netip.AddrPort) (Link, error) {
		if addr == other {
			unsupported.Add(1)
			return Link{}, fmt.Errorf("%w: 404", ErrUnsupported)
		}
		dials.Add(1)
		cl, sv := pipeLinks(true)
		go func() { _ = srv.Serve(sv) }()
		last.Store(&cl.Conn)
		return cl, nil
	}, ClientOptions{})
	t.Cleanup(func() { _ = p.Close() })

	for i := 0; i < 3; i++ {
		_, err := p.Send(ctxT(t, 5*time.Second), to, write(i))
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, dials.Load(), "one stream for many writes")
	_ = (*last.Load()).Close() // the stream breaks
	eventually(t, func() bool {
		_, err := p.Send(ctxT(t, 5*time.Second), to, write(9))
		return err == nil
	}, "a write on a new stream")
	assert.EqualValues(t, 2, dials.Load())

	for i := 0; i < 3; i++ {
		_, err := p.Send(ctxT(t, 5*time.Second), other, write(i))
		assert.ErrorIs(t, err, ErrUnsupported)
	}
	assert.EqualValues(t, 1, unsupported.Load(), "asked once, then remembered")

	require.NoError(t, p.Close())
	_, err := p.Send(ctxT(t, 5*time.Second), to, write(0))
	assert.ErrorIs(t, err, ErrPoolClosed)
}
