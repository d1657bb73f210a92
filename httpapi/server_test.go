package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/httpapi"
	"github.com/diststore/diststore/store"
)

// testMaxValue is the MaxValueSize the size tests run with.
const testMaxValue = 1024

// newTestServer returns the handler over a fresh fake node. Options left
// zero get a quiet logger and a MaxValueSize of testMaxValue.
func newTestServer(tb testing.TB, opts httpapi.Options) (*httpapi.Server, *fakeNode) {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MaxValueSize == 0 {
		opts.MaxValueSize = testMaxValue
	}
	node := newFakeNode()
	return httpapi.New(node, opts), node
}

// serve runs one request through h and returns the recorded response.
func serve(tb testing.TB, h http.Handler, method, target string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// startServer runs h behind a real listener and returns a client that
// does not follow redirects.
func startServer(tb testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	tb.Helper()
	ts := httptest.NewServer(h)
	tb.Cleanup(ts.Close)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return ts, c
}

// urlencodedForm builds a urlencoded form body from name/value pairs.
func urlencodedForm(pairs ...string) (io.Reader, string) {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
}

// multipartForm builds a multipart/form-data body from name/value pairs.
func multipartForm(tb testing.TB, pairs ...string) (io.Reader, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(pairs); i += 2 {
		require.NoError(tb, mw.WriteField(pairs[i], pairs[i+1]))
	}
	require.NoError(tb, mw.Close())
	return &buf, mw.FormDataContentType()
}

type formEncoder func(tb testing.TB, pairs ...string) (io.Reader, string)

var formEncodings = []struct {
	name   string
	encode formEncoder
}{
	{"urlencoded", func(_ testing.TB, pairs ...string) (io.Reader, string) { return urlencodedForm(pairs...) }},
	{"multipart", multipartForm},
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

var testVersion = store.Version{Clock: 0x18f2a3b4c5d0001, Node: 0x0a000005}

// --- writes --------------------------------------------------------------

func TestServer_Put_StoresBodyVerbatim(t *testing.T) {
	const body = "a=b&c"
	contentTypes := []string{
		"",
		"text/plain",
		"application/octet-stream",
		"application/x-www-form-urlencoded",
		"multipart/form-data; boundary=xyz",
		"application/json",
	}
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		for _, ct := range contentTypes {
			t.Run(method+"/"+ct, func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{})
				h := http.Header{}
				if ct != "" {
					h.Set("Content-Type", ct)
				}
				rec := serve(t, srv, method, "/mykey", strings.NewReader(body), h)

				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				calls := node.putCalls()
				require.Len(t, calls, 1)
				assert.Equal(t, "mykey", calls[0].Key)
				assert.Equal(t, []byte(body), calls[0].Value)

				e, ok := node.entry("mykey")
				require.True(t, ok)
				assert.Equal(t, `"`+e.Version.String()+`"`, rec.Header().Get("ETag"))
				assert.Equal(t, e.Version.String(), rec.Header().Get("X-Diststore-Version"))
				assert.Equal(t, "10.0.0.1,10.0.0.2", rec.Header().Get("X-Diststore-Masters"))
				assert.Contains(t, rec.Body.String(), "10.0.0.1")
				assert.Contains(t, rec.Body.String(), "10.0.0.2")
				assert.Empty(t, node.putLocalCalls())
			})
		}
	}
}

func TestServer_Put_EmptyValue(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodPost, "/k", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	calls := node.putCalls()
	require.Len(t, calls, 1)
	assert.Empty(t, calls[0].Value)
}

func TestServer_Put_TooLarge(t *testing.T) {
	type route struct {
		name string
		req  func(t *testing.T, value string) (method, target string, body io.Reader, h http.Header)
	}
	raw := func(method, target string) func(*testing.T, string) (string, string, io.Reader, http.Header) {
		return func(_ *testing.T, v string) (string, string, io.Reader, http.Header) {
			return method, target, strings.NewReader(v), nil
		}
	}
	form := func(enc formEncoder) func(*testing.T, string) (string, string, io.Reader, http.Header) {
		return func(t *testing.T, v string) (string, string, io.Reader, http.Header) {
			body, ct := enc(t, "key", "k", "value", v)
			return http.MethodPost, "/", body, hdr("Content-Type", ct)
		}
	}
	routes := []route{
		{"POST /k", raw(http.MethodPost, "/k")},
		{"PUT /k", raw(http.MethodPut, "/k")},
		{"POST /local/k", raw(http.MethodPost, "/local/k")},
		{"PUT /local/k", raw(http.MethodPut, "/local/k")},
	}
	for _, enc := range formEncodings {
		routes = append(routes, route{"form " + enc.name, form(enc.encode)})
	}
	sizes := []struct {
		name  string
		value string
		want  int
	}{
		{"at limit", strings.Repeat("x", testMaxValue), http.StatusOK},
		{"at limit escaped", strings.Repeat("\xff", testMaxValue), http.StatusOK},
		{"one over", strings.Repeat("x", testMaxValue+1), http.StatusRequestEntityTooLarge},
		{"one over escaped", strings.Repeat("&", testMaxValue+1), http.StatusRequestEntityTooLarge},
		{"4x over", strings.Repeat("x", 4*testMaxValue), http.StatusRequestEntityTooLarge},
		{"far over", strings.Repeat("x", 200*testMaxValue), http.StatusRequestEntityTooLarge},
	}
	for _, rt := range routes {
		for _, sz := range sizes {
			t.Run(rt.name+"/"+sz.name, func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{MaxValueSize: testMaxValue})
				method, target, body, h := rt.req(t, sz.value)
				rec := serve(t, srv, method, target, body, h)

				require.Equal(t, sz.want, rec.Code, rec.Body.String())
				calls := append(node.putCalls(), node.putLocalCalls()...)
				if sz.want == http.StatusOK {
					require.Len(t, calls, 1)
					assert.Equal(t, []byte(sz.value), calls[0].Value)
					return
				}
				assert.Empty(t, calls, "an oversized value must not reach the node")
				assert.Contains(t, rec.Body.String(), "too large")
			})
		}
	}
}

func TestServer_Put_Errors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"no master", cluster.ErrNoMaster, http.StatusServiceUnavailable},
		{"no master wrapped", fmt.Errorf("%w: masters kept failing", cluster.ErrNoMaster), http.StatusServiceUnavailable},
		{"closed", cluster.ErrClosed, http.StatusServiceUnavailable},
		{"master refused", fmt.Errorf("%w: 10.0.0.1: 500", cluster.ErrMasterRefused), http.StatusBadGateway},
		{"too large", fmt.Errorf("%w: 5 bytes, at most 4", cluster.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
		{"deadline wrapped", fmt.Errorf("forward: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"other", errors.New("disk on fire"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, enc := range formEncodings {
				srv, node := newTestServer(t, httpapi.Options{})
				node.setPutErr(tt.err)

				rec := serve(t, srv, http.MethodPost, "/k", strings.NewReader("v"), nil)
				assert.Equal(t, tt.want, rec.Code, "POST /k: %s", rec.Body.String())
				assert.Empty(t, rec.Header().Get("X-Diststore-Masters"))
				assert.NotEmpty(t, strings.TrimSpace(rec.Body.String()))

				body, ct := enc.encode(t, "key", "k", "value", "v")
				rec = serve(t, srv, http.MethodPost, "/", body, hdr("Content-Type", ct, "Accept", "text/html"))
				assert.Equal(t, tt.want, rec.Code, "form %s: %s", enc.name, rec.Body.String())
				assert.Empty(t, rec.Header().Get("Location"), "a failed form write must not redirect")
			}
		})
	}
}

func TestServer_Put_WriteTimeout(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{WriteTimeout: 20 * time.Millisecond})
	node.setPutHook(func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return errors.New("write timeout was not applied")
		}
	})
	rec := serve(t, srv, http.MethodPost, "/k", strings.NewReader("v"), nil)
	assert.Equal(t, http.StatusGatewayTimeout, rec.Code, rec.Body.String())
}

func TestServer_PutLocal_Version(t *testing.T) {
	tests := []struct {
		name    string
		header  string // "" means no header
		want    int
		version store.Version
	}{
		{"none", "", http.StatusOK, store.Version{}},
		{"given", testVersion.String(), http.StatusOK, testVersion},
		{"short", "abc-def", http.StatusOK, store.Version{Clock: 0xabc, Node: 0xdef}},
		{"no dash", "abcdef", http.StatusBadRequest, store.Version{}},
		{"not hex", "zz-1", http.StatusBadRequest, store.Version{}},
		{"empty node", "1-", http.StatusBadRequest, store.Version{}},
		{"node overflow", "1-100000000", http.StatusBadRequest, store.Version{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			h := http.Header{}
			if tt.header != "" {
				h.Set("X-Diststore-Version", tt.header)
			}
			rec := serve(t, srv, http.MethodPost, "/local/k", strings.NewReader("v"), h)

			require.Equal(t, tt.want, rec.Code, rec.Body.String())
			assert.Empty(t, node.putCalls(), "POST /local must not write through the cluster")
			calls := node.putLocalCalls()
			if tt.want != http.StatusOK {
				assert.Empty(t, calls)
				assert.Contains(t, rec.Body.String(), "version")
				return
			}
			require.Len(t, calls, 1)
			assert.Equal(t, "k", calls[0].Key)
			assert.Equal(t, []byte("v"), calls[0].Value)
			assert.Equal(t, tt.version, calls[0].Version)

			e, ok := node.entry("k")
			require.True(t, ok)
			assert.Equal(t, `"`+e.Version.String()+`"`, rec.Header().Get("ETag"))
			assert.Equal(t, e.Version.String(), rec.Header().Get("X-Diststore-Version"))
		})
	}
}

func TestServer_PutLocal_StoresBodyVerbatim(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodPost, "/local/k", strings.NewReader("a=b&c"),
		hdr("Content-Type", "application/x-www-form-urlencoded"))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	calls := node.putLocalCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, []byte("a=b&c"), calls[0].Value)
}

func TestServer_PutLocal_Errors(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.setPutErr(fmt.Errorf("%w: 5 bytes, at most 4", cluster.ErrTooLarge))
	rec := serve(t, srv, http.MethodPost, "/local/k", strings.NewReader("v"), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

// --- the form ------------------------------------------------------------

func TestServer_Form_Post(t *testing.T) {
	tests := []struct {
		name     string
		accept   string
		key      string
		value    string
		wantCode int
		wantLoc  string
	}{
		{"text", "", "k", "v", http.StatusOK, ""},
		{"curl accept", "*/*", "k", "v", http.StatusOK, ""},
		{"browser", "text/html,application/xhtml+xml,*/*;q=0.8", "k", "v", http.StatusSeeOther, "/?stored=k"},
		{"browser slash key", "text/html", "a/b", "v", http.StatusSeeOther, "/?stored=a%2Fb"},
		{"browser unicode key", "text/html", "café", "v", http.StatusSeeOther, "/?stored=caf%C3%A9"},
		{"value looks like a form", "", "k", "a=b&c", http.StatusOK, ""},
		{"empty value", "", "k", "", http.StatusOK, ""},
		{"multiline value", "", "k", "line1\r\nline2\n", http.StatusOK, ""},
	}
	for _, enc := range formEncodings {
		for _, tt := range tests {
			t.Run(enc.name+"/"+tt.name, func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{})
				body, ct := enc.encode(t, "key", tt.key, "value", tt.value)
				h := hdr("Content-Type", ct)
				if tt.accept != "" {
					h.Set("Accept", tt.accept)
				}
				rec := serve(t, srv, http.MethodPost, "/", body, h)

				require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
				calls := node.putCalls()
				require.Len(t, calls, 1)
				assert.Equal(t, tt.key, calls[0].Key)
				assert.Equal(t, []byte(tt.value), calls[0].Value)
				assert.Equal(t, "10.0.0.1,10.0.0.2", rec.Header().Get("X-Diststore-Masters"))
				assert.NotEmpty(t, rec.Header().Get("ETag"))
				if tt.wantLoc != "" {
					assert.Equal(t, tt.wantLoc, rec.Header().Get("Location"))
					return
				}
				assert.Empty(t, rec.Header().Get("Location"))
				assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"),
					"Content-Type %q", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Body.String(), "10.0.0.1")
			})
		}
	}
}

func TestServer_Form_Bad(t *testing.T) {
	tests := []struct {
		name    string
		pairs   []string
		wantMsg string
	}{
		{"no key", []string{"value", "v"}, `"key"`},
		{"no value", []string{"key", "k"}, `"value"`},
		{"nothing", nil, `"key"`},
		{"empty key", []string{"key", "", "value", "v"}, "empty"},
		{"space in key", []string{"key", "a b", "value", "v"}, "whitespace"},
		{"long key", []string{"key", strings.Repeat("k", store.MaxKeyLen+1), "value", "v"}, "251 bytes"},
	}
	for _, enc := range formEncodings {
		for _, tt := range tests {
			t.Run(enc.name+"/"+tt.name, func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{})
				body, ct := enc.encode(t, tt.pairs...)
				rec := serve(t, srv, http.MethodPost, "/", body, hdr("Content-Type", ct, "Accept", "text/html"))

				assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
				assert.Contains(t, rec.Body.String(), tt.wantMsg)
				assert.Empty(t, rec.Header().Get("Location"))
				assert.Empty(t, node.putCalls())
			})
		}
	}
}

func TestServer_Form_BadMultipart(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodPost, "/", strings.NewReader("--nope\r\ngarbage"),
		hdr("Content-Type", "multipart/form-data; boundary=xyz"))
	assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	assert.Empty(t, node.putCalls())
}

// --- keys in paths -------------------------------------------------------

func TestServer_Key_Paths(t *testing.T) {
	key250 := strings.Repeat("k", store.MaxKeyLen)
	key251 := strings.Repeat("k", store.MaxKeyLen+1)
	tests := []struct {
		name    string
		method  string
		target  string
		want    int
		key     string // the key the node must see, for a success
		wantMsg string // a part of the body, for a failure
	}{
		{"get unicode", "GET", "/get/caf%C3%A9", 200, "café", ""},
		{"get escaped slash", "GET", "/get/a%2Fb", 200, "a/b", ""},
		{"get escaped slash lower", "GET", "/get/a%2fb", 200, "a/b", ""},
		{"get plus", "GET", "/get/a+b", 200, "a+b", ""},
		{"get escaped percent", "GET", "/get/100%25", 200, "100%", ""},
		{"get escaped question", "GET", "/get/a%3Fb", 200, "a?b", ""},
		{"get dot dot", "GET", "/get/..", 200, "..", ""},
		{"get double slash", "GET", "/get//x", 200, "/x", ""},
		{"get 250 bytes", "GET", "/get/" + key250, 200, key250, ""},
		{"getlocal escaped slashes", "GET", "/getlocal/a%2F%2Fb", 200, "a//b", ""},
		{"getlocal slashes", "GET", "/getlocal/a//b", 200, "a//b", ""},
		{"post escaped slash", "POST", "/a%2Fb", 200, "a/b", ""},
		{"put escaped slash", "PUT", "/a%2Fb", 200, "a/b", ""},
		{"post unicode", "POST", "/caf%C3%A9", 200, "café", ""},
		{"post 250 bytes", "POST", "/" + key250, 200, key250, ""},
		{"post local escaped slash", "POST", "/local/a%2Fb", 200, "a/b", ""},
		{"post key named get", "POST", "/get", 200, "get", ""},
		{"post key named list", "POST", "/list", 200, "list", ""},

		{"get space", "GET", "/get/a%20b", 400, "", "whitespace"},
		{"get empty", "GET", "/get/", 400, "", "empty"},
		{"getlocal empty", "GET", "/getlocal/", 400, "", "empty"},
		{"get 251 bytes", "GET", "/get/" + key251, 400, "", "251 bytes"},
		{"get control", "GET", "/get/a%01b", 400, "", "control"},
		{"get tab", "GET", "/get/a%09b", 400, "", "whitespace"},
		{"get not utf8", "GET", "/get/a%FFb", 400, "", "UTF-8"},
		{"post space", "POST", "/a%20b", 400, "", "whitespace"},
		{"post control", "POST", "/a%01b", 400, "", "control"},
		{"post 251 bytes", "POST", "/" + key251, 400, "", "251 bytes"},
		{"post local empty", "POST", "/local/", 400, "", "empty"},
		{"post local space", "POST", "/local/a%20b", 400, "", "whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			if tt.key != "" {
				node.set(tt.key, []byte("value"), testVersion)
			}
			var body io.Reader
			if tt.method != http.MethodGet {
				body = strings.NewReader("value")
			}
			rec := serve(t, srv, tt.method, tt.target, body, nil)

			require.Equal(t, tt.want, rec.Code, rec.Body.String())
			assert.Empty(t, rec.Header().Get("Location"), "a key path must never redirect")
			seen := append(append(node.getCalls(), node.getLocalCalls()...), keysOf(node.putCalls())...)
			seen = append(seen, keysOf(node.putLocalCalls())...)
			if tt.want != http.StatusOK {
				assert.Empty(t, seen, "a bad key must not reach the node")
				assert.Contains(t, rec.Body.String(), "bad key")
				assert.Contains(t, rec.Body.String(), tt.wantMsg)
				return
			}
			assert.Equal(t, []string{tt.key}, seen)
		})
	}
}

func keysOf(calls []putCall) []string {
	var keys []string
	for _, c := range calls {
		keys = append(keys, c.Key)
	}
	return keys
}

// TestServer_Key_RealServer sends request lines verbatim through a real
// listener, so nothing in the client or the server cleans the path.
func TestServer_Key_RealServer(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string // the request-target, sent as is
		want   int
		key    string
	}{
		{"getlocal escaped slashes", "GET", "/getlocal/a%2F%2Fb", 200, "a//b"},
		{"getlocal slashes", "GET", "/getlocal/a//b", 200, "a//b"},
		{"get dot segments", "GET", "/get/a/../b", 200, "a/../b"},
		{"post escaped slash", "POST", "/a%2Fb", 200, "a/b"},
		{"get bad escape", "GET", "/get/%zz", 400, ""},
		{"post bad escape", "POST", "/%zz", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			if tt.key != "" {
				node.set(tt.key, []byte("value"), testVersion)
			}
			ts, client := startServer(t, srv)
			u, err := url.Parse(ts.URL)
			require.NoError(t, err)
			u.Opaque = tt.path // sent verbatim as the request-target
			var body io.Reader
			if tt.method == http.MethodPost {
				body = strings.NewReader("value")
			}
			req, err := http.NewRequest(tt.method, ts.URL, body)
			require.NoError(t, err)
			req.URL = u
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)

			require.Equal(t, tt.want, resp.StatusCode, string(b))
			assert.Empty(t, resp.Header.Get("Location"))
			if tt.want != http.StatusOK {
				// net/http rejects the request line before the handler runs.
				assert.Contains(t, string(b), "Bad Request")
				assert.Empty(t, node.getCalls())
				assert.Empty(t, node.putCalls())
				return
			}
			if tt.method == http.MethodGet {
				assert.Equal(t, "value", string(b))
			}
			seen := append(append(node.getCalls(), node.getLocalCalls()...), keysOf(node.putCalls())...)
			assert.Equal(t, []string{tt.key}, seen)
		})
	}
}

// --- reads ---------------------------------------------------------------

func TestServer_Get_Value(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		source cluster.Source
		want   string // X-Diststore-Source
	}{
		{"local", "/get/k", cluster.SourceLocal, "local"},
		{"peer", "/get/k", cluster.SourcePeer, "peer"},
		{"getlocal", "/getlocal/k", cluster.SourcePeer, "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("k", []byte("hello"), testVersion)
			node.setSource(tt.source)
			rec := serve(t, srv, http.MethodGet, tt.path, nil, nil)

			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "hello", rec.Body.String())
			assert.Equal(t, `"`+testVersion.String()+`"`, rec.Header().Get("ETag"))
			assert.Equal(t, testVersion.String(), rec.Header().Get("X-Diststore-Version"))
			assert.Equal(t, tt.want, rec.Header().Get("X-Diststore-Source"))
			assert.Equal(t, "application/octet-stream", rec.Header().Get("Content-Type"))
			assert.Equal(t, "5", rec.Header().Get("Content-Length"))
		})
	}
}

func TestServer_GetLocal_NeverAsksCluster(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.set("k", []byte("v"), testVersion)

	rec := serve(t, srv, http.MethodGet, "/getlocal/k", nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = serve(t, srv, http.MethodGet, "/getlocal/missing", nil, nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	rec = serve(t, srv, http.MethodHead, "/getlocal/k", nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code)

	assert.Empty(t, node.getCalls(), "GET /getlocal must not call Get")
	assert.Equal(t, []string{"k", "missing", "k"}, node.getLocalCalls())
}

func TestServer_Get_NotFound(t *testing.T) {
	for _, path := range []string{"/get/missing", "/getlocal/missing"} {
		t.Run(path, func(t *testing.T) {
			srv, _ := newTestServer(t, httpapi.Options{})
			rec := serve(t, srv, http.MethodGet, path, nil, nil)

			require.Equal(t, http.StatusNotFound, rec.Code)
			assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"),
				"Content-Type %q", rec.Header().Get("Content-Type"))
			b := rec.Body.String()
			assert.Contains(t, b, "not found")
			assert.Less(t, len(b), 100, "body %q", b)
			assert.Equal(t, 1, strings.Count(b, "\n"), "one line: %q", b)
			assert.Empty(t, rec.Header().Get("ETag"))
		})
	}
}

func TestServer_Get_Errors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"not found", cluster.ErrNotFound, http.StatusNotFound},
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
		{"closed", cluster.ErrClosed, http.StatusServiceUnavailable},
		{"other", errors.New("boom"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("k", []byte("v"), testVersion)
			node.setGetErr(tt.err)
			rec := serve(t, srv, http.MethodGet, "/get/k", nil, nil)
			assert.Equal(t, tt.want, rec.Code, rec.Body.String())
			assert.Empty(t, rec.Header().Get("ETag"))
			assert.NotEqual(t, "v", rec.Body.String())
		})
	}
}

func TestServer_Get_IfNoneMatch(t *testing.T) {
	etag := `"` + testVersion.String() + `"`
	tests := []struct {
		name string
		inm  string
		want int
	}{
		{"equal", etag, http.StatusNotModified},
		{"other", `"1-1"`, http.StatusOK},
		{"unquoted", testVersion.String(), http.StatusOK},
	}
	for _, path := range []string{"/get/k", "/getlocal/k"} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				srv, node := newTestServer(t, httpapi.Options{})
				node.set("k", []byte("hello"), testVersion)
				rec := serve(t, srv, http.MethodGet, path, nil, hdr("If-None-Match", tt.inm))

				require.Equal(t, tt.want, rec.Code)
				assert.Equal(t, etag, rec.Header().Get("ETag"))
				if tt.want == http.StatusNotModified {
					assert.Empty(t, rec.Body.Bytes())
				} else {
					assert.Equal(t, "hello", rec.Body.String())
				}
			})
		}
	}
}

// TestServer_Get_IfNoneMatchForms checks the other forms RFC 9110
// section 13.1.2 gives If-None-Match: a list of tags, weak tags (the
// comparison is weak) and "*".
func TestServer_Get_IfNoneMatchForms(t *testing.T) {
	etag := `"` + testVersion.String() + `"`
	tests := []struct {
		name string
		inm  string
	}{
		{"list", `"1-1", ` + etag},
		{"weak", "W/" + etag},
		{"star", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("k", []byte("hello"), testVersion)
			rec := serve(t, srv, http.MethodGet, "/get/k", nil, hdr("If-None-Match", tt.inm))
			assert.Equal(t, http.StatusNotModified, rec.Code)
		})
	}
}

func TestServer_Get_Head(t *testing.T) {
	for _, path := range []string{"/get/k", "/getlocal/k"} {
		t.Run(path, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("k", []byte("hello"), testVersion)
			ts, client := startServer(t, srv)

			req, err := http.NewRequest(http.MethodHead, ts.URL+path, nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)

			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Empty(t, b)
			assert.Equal(t, int64(5), resp.ContentLength)
			assert.Equal(t, `"`+testVersion.String()+`"`, resp.Header.Get("ETag"))
			assert.Equal(t, "local", resp.Header.Get("X-Diststore-Source"))

			rec := serve(t, srv, http.MethodHead, path, nil, nil)
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Empty(t, rec.Body.Bytes(), "the handler itself must not write a HEAD body")
		})
	}
}

// TestServer_BinaryRoundTrip writes and reads a value of arbitrary bytes
// through a real listener.
func TestServer_BinaryRoundTrip(t *testing.T) {
	value := make([]byte, 0, 512)
	for i := range 256 {
		value = append(value, byte(i))
	}
	value = append(value, "\x00\xff\xfe\xc3\x28\xed\xa0\x80\r\n\x00"...)

	tests := []struct{ name, write, read string }{
		{"cluster", "/bin", "/get/bin"},
		{"local", "/local/bin", "/getlocal/bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t, httpapi.Options{})
			ts, client := startServer(t, srv)

			resp, err := client.Post(ts.URL+tt.write, "application/x-www-form-urlencoded", bytes.NewReader(value))
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)

			resp, err = client.Get(ts.URL + tt.read)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, value, got)
		})
	}
}

// --- methods -------------------------------------------------------------

func TestServer_WrongMethod(t *testing.T) {
	tests := []struct {
		method, target string
		allow          []string
	}{
		{"DELETE", "/get/x", []string{"GET", "HEAD"}},
		{"POST", "/get/x", []string{"GET", "HEAD"}},
		{"PUT", "/getlocal/x", []string{"GET", "HEAD"}},
		{"GET", "/local/x", []string{"POST", "PUT", "DELETE"}},
		{"PATCH", "/local/x", []string{"POST", "PUT", "DELETE"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set("x", []byte("v"), testVersion)
			rec := serve(t, srv, tt.method, tt.target, strings.NewReader("v"), nil)

			require.Equal(t, http.StatusMethodNotAllowed, rec.Code, rec.Body.String())
			allow := rec.Header().Get("Allow")
			for _, m := range tt.allow {
				assert.Contains(t, allow, m)
			}
			assert.Empty(t, node.getCalls())
			assert.Empty(t, node.getLocalCalls())
			assert.Empty(t, node.putCalls())
			assert.Empty(t, node.putLocalCalls())
		})
	}
}

// --- other endpoints -----------------------------------------------------

func TestServer_List(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodGet, "/list", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())

	for _, k := range []string{"b", "a", "café", "x/y"} {
		node.set(k, []byte("v"), testVersion)
	}
	rec = serve(t, srv, http.MethodGet, "/list", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"))
	assert.Equal(t, "a\nb\ncafé\nx/y\n", rec.Body.String())
}

func TestServer_Status(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})
	node.set("k", []byte("v"), testVersion)
	rec := serve(t, srv, http.MethodGet, "/status", nil, nil)

	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var got cluster.Status
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&got))
	assert.Equal(t, node.Status(), got)
}

func TestServer_Health(t *testing.T) {
	srv, node := newTestServer(t, httpapi.Options{})

	rec := serve(t, srv, http.MethodGet, "/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code)

	node.setReady(false)
	rec = serve(t, srv, http.MethodGet, "/readyz", nil, nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "not ready")
	rec = serve(t, srv, http.MethodGet, "/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code, "a node that is not ready is still alive")

	node.setReady(true)
	rec = serve(t, srv, http.MethodGet, "/readyz", nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code)
}

func TestServer_Dump(t *testing.T) {
	srv, _ := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodGet, "/dump", nil, nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "dump\n", rec.Body.String())
}

// formInfo is one <form> of the page with the names of its fields.
type formInfo struct {
	method, action string
	fields         map[string]bool
}

// parseForms returns the page's forms, keyed by id.
func parseForms(t *testing.T, page string) map[string]formInfo {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	forms := map[string]formInfo{}
	var walk func(n *html.Node, cur *formInfo)
	walk = func(n *html.Node, cur *formInfo) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				f := formInfo{method: strings.ToLower(attrs["method"]), action: attrs["action"], fields: map[string]bool{}}
				forms[attrs["id"]] = f
				cur = &f
			case "input", "textarea", "select":
				if cur != nil && attrs["name"] != "" {
					cur.fields[attrs["name"]] = true
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return forms
}

func TestServer_Index(t *testing.T) {
	srv, _ := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodGet, "/", nil, nil)

	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html"))
	page := rec.Body.String()
	assert.Contains(t, page, `name="key"`)
	assert.Contains(t, page, `name="value"`)
	assert.Contains(t, page, "10.0.0.1")

	var storeForm, lookup *formInfo
	for _, f := range parseForms(t, page) {
		switch {
		case f.method == "post" && f.action == "/":
			storeForm = &f
		case f.method == "get" && f.action == "/lookup":
			lookup = &f
		}
	}
	require.NotNil(t, storeForm, "a form with method=post action=/")
	assert.True(t, storeForm.fields["key"], "store form has a key field")
	assert.True(t, storeForm.fields["value"], "store form has a value field")
	require.NotNil(t, lookup, "a form with method=get action=/lookup")
	assert.True(t, lookup.fields["key"], "lookup form has a key field")
}

func TestServer_Index_Stored(t *testing.T) {
	srv, _ := newTestServer(t, httpapi.Options{})
	rec := serve(t, srv, http.MethodGet, "/?stored="+url.QueryEscape("<b>k</b>"), nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "&lt;b&gt;k&lt;/b&gt;")
	assert.NotContains(t, rec.Body.String(), "<b>k</b>")
}

func TestServer_Lookup(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantLoc string
	}{
		{"plain", "k", "/get/k"},
		{"slash", "a/b", "/get/a%2Fb"},
		{"unicode", "café", "/get/caf%C3%A9"},
		{"question mark", "a?b", "/get/a%3Fb"},
		{"percent", "100%", "/get/100%25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set(tt.key, []byte("v"), testVersion)
			rec := serve(t, srv, http.MethodGet, "/lookup?key="+url.QueryEscape(tt.key), nil, nil)

			require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
			assert.Equal(t, tt.wantLoc, rec.Header().Get("Location"))
			assertLookupResolves(t, srv, node, rec, tt.key)
		})
	}
}

// TestServer_Lookup_DotKeys looks up the keys "." and "..", which are
// valid keys that a Location made with path.Clean loses.
func TestServer_Lookup_DotKeys(t *testing.T) {
	for _, key := range []string{".", ".."} {
		t.Run(key, func(t *testing.T) {
			srv, node := newTestServer(t, httpapi.Options{})
			node.set(key, []byte("v"), testVersion)
			rec := serve(t, srv, http.MethodGet, "/lookup?key="+url.QueryEscape(key), nil, nil)

			require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
			assertLookupResolves(t, srv, node, rec, key)
		})
	}
}

// assertLookupResolves follows a lookup's redirect through srv and checks
// that it reads key.
func assertLookupResolves(t *testing.T, srv http.Handler, node *fakeNode, rec *httptest.ResponseRecorder, key string) {
	t.Helper()
	loc := rec.Header().Get("Location")
	require.True(t, strings.HasPrefix(loc, "/get/"), "Location %q must be a /get/ path", loc)
	next := serve(t, srv, http.MethodGet, loc, nil, nil)
	assert.Equal(t, http.StatusOK, next.Code, next.Body.String())
	assert.Equal(t, []string{key}, node.getCalls())
}

func TestServer_Lookup_BadKey(t *testing.T) {
	for _, q := range []string{"key=", "", "key=a+b", "key=a%01", "key=" + strings.Repeat("k", store.MaxKeyLen+1)} {
		t.Run(q, func(t *testing.T) {
			srv, _ := newTestServer(t, httpapi.Options{})
			rec := serve(t, srv, http.MethodGet, "/lookup?"+q, nil, nil)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, rec.Body.String(), "bad key")
			assert.Empty(t, rec.Header().Get("Location"))
		})
	}
}
