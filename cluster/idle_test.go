package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowBody is the body of a dump request served by a slow master: each Read
// waits gap, then brings one chunk; after chunks chunks it ends (io.EOF)
// or, if stall, brings nothing more. Like an HTTP response body, every
// Read, a waiting one included, fails with the request's error once ctx
// (the request's context) ends. Nothing but ctx ends a stalled Read.
type slowBody struct {
	ctx    context.Context
	gap    time.Duration
	chunks int
	stall  bool

	served    int
	stalled   chan struct{} // closed when a Read starts to stall
	stalledAt time.Time     // set before stalled is closed
}

// chunk is what slowBody serves on its i-th Read.
func chunk(i int) []byte { return fmt.Appendf(nil, "chunk %04d;", i) }

func (b *slowBody) Read(p []byte) (int, error) {
	if b.served == b.chunks {
		if !b.stall {
			return 0, io.EOF
		}
		b.stalledAt = time.Now()
		close(b.stalled)
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	gap := time.NewTimer(b.gap)
	defer gap.Stop()
	select {
	case <-gap.C:
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	}
	n := copy(p, chunk(b.served))
	b.served++
	return n, nil
}

func (b *slowBody) Close() error { return nil }

// TestIdleReader_CutsOnlyAnIdleStream reads slow streams through an
// idleReader wired as openDump wires it: its timer cancels the request's
// context, and nothing else does. A stream that keeps bringing bytes, for
// far longer than idle in all, is read to its end; one that stops is cut
// by the idleReader itself, idle after its last bytes, with the request's
// error (context.Canceled).
func TestIdleReader_CutsOnlyAnIdleStream(t *testing.T) {
	const (
		idle = 200 * time.Millisecond
		gap  = idle / 40 // between chunks: far below idle, even on a loaded machine
		// chunks*gap is 2.5*idle: a timer that is not reset by every
		// read fires half way through the stream.
		chunks = 100
		// bound is how long a cut may take: generous, a hang guard only.
		bound = 10 * time.Second
	)
	for _, tc := range []struct {
		name    string
		chunks  int
		stall   bool
		wantErr error
	}{
		{name: "FlowsThenEnds", chunks: chunks, wantErr: nil},
		{name: "FlowsThenStalls", chunks: chunks, stall: true, wantErr: context.Canceled},
		{name: "StallsAtOnce", chunks: 0, stall: true, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As openDump: the request's context, cancelled by the idle timer.
			ctx, cancel := context.WithCancel(context.Background())
			body := &slowBody{ctx: ctx, gap: gap, chunks: tc.chunks, stall: tc.stall, stalled: make(chan struct{})}
			r := &idleReader{r: body, idle: idle, timer: time.AfterFunc(idle, cancel)}
			type result struct {
				data []byte
				err  error
				at   time.Time
			}
			done := make(chan result, 1)
			go func() {
				data, err := io.ReadAll(r)
				done <- result{data, err, time.Now()}
			}()

			var res result
			select {
			case res = <-done:
			case <-time.After(time.Duration(tc.chunks)*gap + bound):
				// Release the reader only now that the test has failed.
				cancel()
				<-done
				t.Fatalf("the read did not end within %v of the stream's end or stall (idle %v): the idleReader did not cut it",
					bound, idle)
			}
			require.NoError(t, r.Close())
			cancel() // the caller's cancel, as after openDump; idempotent

			var want bytes.Buffer
			for i := range tc.chunks {
				want.Write(chunk(i))
			}
			assert.Equal(t, want.String(), string(res.data),
				"the data read before the end: a stream that brought bytes every %v was cut (idle %v)", gap, idle)
			if tc.wantErr == nil {
				assert.NoError(t, res.err, "a stream that kept flowing, then ended")
				return
			}
			require.ErrorIs(t, res.err, tc.wantErr, "a stalled stream")
			select {
			case <-body.stalled:
			default:
				t.Fatal("the read ended before the stream stalled")
			}
			// Timers fire late, never early; allow some slack for the reads
			// between the last reset and the stall.
			cutAfter := res.at.Sub(body.stalledAt)
			assert.GreaterOrEqual(t, cutAfter, idle/2, "cut %v after the stall, idle is %v", cutAfter, idle)
		})
	}
}
