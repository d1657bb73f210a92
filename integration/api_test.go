package integration

import (
	"bytes"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The HTTP API's edges: the form POST, key validation and the value limit.

// TestCluster_FormPost stores keys with the original's form POST (fields key
// and value), urlencoded and multipart; a browser (Accept: text/html) is
// redirected back to the page.
func TestCluster_FormPost(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	writer := c.nonMasters(masters)[0]
	reader := c.byAddr(t, masters[0])

	urlencoded := func(key, val string) ([]byte, string) {
		return []byte(url.Values{"key": {key}, "value": {val}}.Encode()), "application/x-www-form-urlencoded"
	}
	multipartForm := func(key, val string) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		require.NoError(t, mw.WriteField("key", key))
		require.NoError(t, mw.WriteField("value", val))
		require.NoError(t, mw.Close())
		return b.Bytes(), mw.FormDataContentType()
	}

	tests := []struct {
		name   string
		encode func(key, val string) ([]byte, string)
		accept string
		key    string
		val    string
	}{
		{"urlencoded", urlencoded, "", "form-urlencoded", "a&b=c ü+%"},
		{"multipart", multipartForm, "", "form-multipart", "line one\nline two\r\n--not-a-boundary"},
		{"urlencoded_html", urlencoded, "text/html", "form-html-urlencoded", "from a browser"},
		{"multipart_html", multipartForm, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "form-html-multipart", "from a browser, multipart"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := tc.encode(tc.key, tc.val)
			hdr := map[string]string{"Content-Type": ctype}
			if tc.accept != "" {
				hdr["Accept"] = tc.accept
			}
			r := do(t, writer, "POST", "/", body, hdr)
			if tc.accept != "" {
				switch {
				case r.code == 303:
					loc, err := url.Parse(r.header.Get("Location"))
					require.NoError(t, err)
					assert.Equal(t, "/", loc.Path, "303 Location")
				case r.code == 200 && strings.HasPrefix(r.header.Get("Content-Type"), "text/html"):
					t.Logf("answered with an HTML page instead of a 303")
				default:
					t.Fatalf("form POST with Accept: %s: want 303 to / (or a 200 HTML page), got %v (Content-Type %q)",
						tc.accept, r, r.header.Get("Content-Type"))
				}
			} else {
				require.True(t, r.ok(), "form POST: %v", r)
				assert.Equal(t, masters, mastersHeader(t, r))
			}

			g := get(t, reader, tc.key)
			require.Equal(t, 200, g.code, "node %s GET /get/%s: %v", reader.addr, tc.key, g)
			assert.Equal(t, tc.val, g.body)
			for _, m := range masters {
				r := getLocal(t, c.byAddr(t, m), tc.key)
				assert.Equal(t, 200, r.code, "master %s GET /getlocal/%s: %v", m, tc.key, r)
			}
		})
	}

	t.Run("missing_fields", func(t *testing.T) {
		for _, form := range []url.Values{{"value": {"v"}}, {"key": {""}, "value": {"v"}}} {
			r := do(t, writer, "POST", "/", []byte(form.Encode()),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			assert.Equal(t, 400, r.code, "form %v: %v", form, r)
			assert.NotEmpty(t, strings.TrimSpace(r.body), "form %v: a 400 says why", form)
		}
	})
}

// TestCluster_BadKeys checks key validation on every endpoint that takes a
// key (400 with a reason), and that unusual but valid keys round-trip
// through the cluster.
func TestCluster_BadKeys(t *testing.T) {
	c := startCluster(t, 4)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	writer := c.nonMasters(masters)[0]
	reader := c.byAddr(t, masters[1])

	bad := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"space", "a b"},
		{"tab", "a\tb"},
		{"newline", "a\nb"},
		{"nbsp", "a\u00a0b"},
		{"control_char", "a\x01b"},
		{"del", "a\x7fb"},
		{"nul", "a\x00b"},
		{"not_utf8", "a\xffb"},
		{"251_bytes", strings.Repeat("k", 251)},
		{"252_bytes_multibyte", strings.Repeat("€", 84)}, // 84 runes, 252 bytes
	}
	endpoints := []struct {
		method, prefix string
	}{
		{"POST", "/"},
		{"PUT", "/"},
		{"POST", "/local/"},
		{"GET", "/get/"},
		{"GET", "/getlocal/"},
	}
	for _, b := range bad {
		t.Run("bad_"+b.name, func(t *testing.T) {
			for _, ep := range endpoints {
				if b.key == "" && ep.prefix == "/" {
					continue // "POST /" is the form; see TestCluster_FormPost
				}
				var body []byte
				if ep.method != "GET" {
					body = []byte("v")
				}
				r := do(t, writer, ep.method, keyPath(ep.prefix, b.key), body, nil)
				if assert.Equal(t, 400, r.code, "%s %s: %v", ep.method, keyPath(ep.prefix, b.key), r) {
					assert.Contains(t, strings.ToLower(r.body), "key", "%s %s: the 400 says why", ep.method, ep.prefix)
				}
			}
		})
	}
	t.Run("bad_form_key", func(t *testing.T) {
		r := do(t, writer, "POST", "/", []byte(url.Values{"key": {"a b"}, "value": {"v"}}.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		assert.Equal(t, 400, r.code, "%v", r)
	})

	good := []struct {
		name string
		key  string
	}{
		{"escaped_slash", "dir/sub/key"},
		{"utf8", "ключ-キー-😀"},
		{"percent", "100%"},
		{"query_chars", "what?x=1#frag"},
		{"250_bytes", strings.Repeat("k", 250)},
		{"250_bytes_multibyte", strings.Repeat("€", 83) + "k"},
		// The original routed on substrings: GET /get/playlist returned the
		// key list, and any POST path containing "local" skipped replication.
		{"playlist", "playlist"},
		{"contains_local", "my-local-key"},
		{"contains_get", "get"},
	}
	for _, g := range good {
		t.Run("good_"+g.name, func(t *testing.T) {
			val := "value of " + g.name
			r := put(t, writer, g.key, val)
			require.True(t, r.ok(), "POST %s: %v", keyPath("/", g.key), r)

			r = get(t, reader, g.key)
			require.Equal(t, 200, r.code, "node %s GET %s: %v", reader.addr, keyPath("/get/", g.key), r)
			assert.Equal(t, val, r.body)
			for _, m := range masters {
				r := getLocal(t, c.byAddr(t, m), g.key)
				assert.Equal(t, 200, r.code, "master %s GET %s: %v", m, keyPath("/getlocal/", g.key), r)
			}
			assert.Contains(t, list(t, writer), g.key, "/list on %s lists the key unescaped", writer.addr)

			// Read through a node that must ask the cluster for it.
			third := c.nonMasters(masters)[1]
			r = get(t, third, g.key)
			require.Equal(t, 200, r.code, "node %s GET %s: %v", third.addr, keyPath("/get/", g.key), r)
			assert.Equal(t, val, r.body)
		})
	}
}

// TestNode_ValueTooLarge checks the value limit: --max-value-size, and the
// 1 MiB default.
func TestNode_ValueTooLarge(t *testing.T) {
	check := func(t *testing.T, n *node, limit int) {
		t.Helper()
		atLimit := strings.Repeat("v", limit)
		over := atLimit + "v"

		r := put(t, n, "at-limit", atLimit)
		require.True(t, r.ok(), "a value of exactly %d bytes: %v", limit, r)
		r = getLocal(t, n, "at-limit")
		require.Equal(t, 200, r.code, "%v", r)
		assert.Equal(t, limit, len(r.body))

		r = put(t, n, "over-limit", over)
		assert.Equal(t, 413, r.code, "POST of %d bytes: %v", len(over), r)
		r = putLocal(t, n, "over-limit", over)
		assert.Equal(t, 413, r.code, "POST /local of %d bytes: %v", len(over), r)
		r = do(t, n, "PUT", keyPath("/", "over-limit"), []byte(over), nil)
		assert.Equal(t, 413, r.code, "PUT of %d bytes: %v", len(over), r)
		r = getLocal(t, n, "over-limit")
		assert.Equal(t, 404, r.code, "a refused value was stored: %v", r)
	}
	t.Run("1KiB", func(t *testing.T) {
		c := startCluster(t, 1, withArgs("--max-value-size", "1KiB"))
		n := c.node(1)
		check(t, n, 1024)
		r := do(t, n, "POST", "/", []byte(url.Values{"key": {"form-over"}, "value": {strings.Repeat("v", 1025)}}.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		assert.Equal(t, 413, r.code, "form POST with a 1025-byte value: %v", r)
	})
	t.Run("default_1MiB", func(t *testing.T) {
		c := startCluster(t, 1)
		check(t, c.node(1), 1<<20)
	})
}
