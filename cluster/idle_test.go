package cluster

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallingBody serves its data, then blocks until its context ends, as
// the body of a request to a master that hung half way.
type stallingBody struct {
	ctx  context.Context
	data io.Reader
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if n, err := b.data.Read(p); err == nil {
		return n, nil
	}
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func (b *stallingBody) Close() error { return nil }

func TestIdleReader_CutsAStalledStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &idleReader{r: &stallingBody{ctx, strings.NewReader("some bytes")}, idle: 50 * time.Millisecond,
		timer: time.AfterFunc(50*time.Millisecond, cancel)}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled stream was not cut")
	}
	assert.Error(t, ctx.Err())
}
