package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a log destination that goroutines may share.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTestAPI serves h on a loopback port and returns the server and a
// client of it.
func startTestAPI(t *testing.T, h http.Handler) (*apiServer, string, *http.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	api := startAPI(&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return api, "http://" + ln.Addr().String(), &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestAPI_CleanStopWarnsOfNothing: a stop with nothing in flight logs no
// warning, whatever the connections were doing: an idle kept-alive one,
// one that never sent a request, none. The race it guards against lost
// about one stop in eight; a hundred stops catch it.
func TestAPI_CleanStopWarnsOfNothing(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	for i := 0; i < 100; i++ {
		api, url, client := startTestAPI(t, ok)
		switch i % 3 {
		case 0: // an idle connection after a request
			resp, err := client.Get(url + "/")
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		case 1: // a connection that sent nothing
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
		}
		var logs syncBuffer
		api.stop(5*time.Second, slog.New(slog.NewTextHandler(&logs, nil)))
		require.Empty(t, logs.String(), "stop %d", i)
	}
}

// TestAPI_StopCutsShortARequestPastTheDeadline: a request still running
// at the deadline is named in a warning.
func TestAPI_StopCutsShortARequestPastTheDeadline(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	blocked := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
	})
	api, url, client := startTestAPI(t, blocked)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := client.Get(url + "/"); err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-entered
	var logs syncBuffer
	api.stop(100*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	close(release)
	<-done
	assert.Contains(t, logs.String(), `level=WARN msg="in-flight requests cut short"`)
	assert.Contains(t, logs.String(), "context deadline exceeded")
}
