package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/httpapi"
)

// TestServer_Dump_StreamsAreCapped: a dump holds a read transaction open
// for as long as its reader takes; more than DumpStreams at once are 503.
func TestServer_Dump_StreamsAreCapped(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{DumpStreams: 1})
	release, started := make(chan struct{}), make(chan struct{}, 1)
	node.dumpHook = func(w io.Writer) error {
		started <- struct{}{}
		<-release
		_, err := io.WriteString(w, "dump\n")
		return err
	}
	ts, client := startServer(t, srv)
	first := make(chan *http.Response, 1)
	go func() {
		resp, err := client.Get(ts.URL + "/dump")
		if err != nil {
			t.Error(err)
		}
		first <- resp
	}()
	<-started
	resp, err := client.Get(ts.URL + "/dump")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "dumps are being served")

	close(release)
	r1 := <-first
	require.NotNil(t, r1)
	b1, _ := io.ReadAll(r1.Body)
	r1.Body.Close()
	assert.Equal(t, "dump\n", string(b1), "the first stream is served whole")
	resp, err = client.Get(ts.URL + "/dump")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a slot is free again")
}

// TestServer_Dump_AbsoluteDeadline: a dump that runs past DumpTimeout is
// cut, however steadily it writes.
func TestServer_Dump_AbsoluteDeadline(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{DumpTimeout: 100 * time.Millisecond})
	var lines int
	var cut error
	node.dumpHook = func(w io.Writer) error {
		for i := range 1000 {
			if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
				cut = err
				return err
			}
			lines++
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}
	rec := serve(t, srv, "GET", "/dump", nil, nil)
	require.Error(t, cut, "the dump was cut")
	assert.Less(t, lines, 1000)
	assert.Equal(t, lines, strings.Count(rec.Body.String(), "\n"))
}
