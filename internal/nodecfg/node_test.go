package nodecfg

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNode(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "http://127.0.2.1:8181", want: "http://127.0.2.1:8181"},
		{in: "http://127.0.2.1:8181/", want: "http://127.0.2.1:8181"},
		{in: "https://node1:9000", want: "https://node1:9000"},
		{in: "http://127.0.2.1", want: "http://127.0.2.1:8181"},
		{in: "127.0.2.1:9000", want: "http://127.0.2.1:9000"},
		{in: "127.0.2.1", want: "http://127.0.2.1:8181"},
		{in: "node1", want: "http://node1:8181"},
		{in: "[::1]:9000", want: "http://[::1]:9000"},
		{in: "[::1]", want: "http://[::1]:8181"},
		{in: "ftp://node1", err: `scheme "ftp": want http or https`},
		{in: "http://", err: "no host"},
		{in: ":8181", err: "no host"},
		{in: "node1:0", err: "not a port number (1-65535)"},
		{in: "node1:99999", err: "not a port number (1-65535)"},
		{in: "node1:http", err: `not a URL: invalid port ":http" after host`},
		{in: "http://node1:8181/get/k", err: "want only scheme, host and port, no path or query"},
		{in: "http://node1:8181?x=1", err: "want only scheme, host and port, no path or query"},
		{in: "http://u:p@node1", err: "user information is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseNode(tt.in)
			if tt.err != "" {
				assert.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, u.String())
		})
	}
}

// writeConfig writes a config file in a temporary directory and returns
// its path.
func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "diststored.cfg")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// fixedExpand is a template expander that answers out for every template.
func fixedExpand(out string) func(string) (string, error) {
	return func(string) (string, error) { return out, nil }
}

func TestFinder_Find(t *testing.T) {
	cfg := writeConfig(t, "# diststored\n[other]\nbind = 10.9.9.9\n\n[diststored]\n; the node\nbind = 127.0.3.1   # inline comment\nHTTP_PORT: 9001\nmulticast_timeout = 1.0\n")
	missing := filepath.Join(t.TempDir(), "missing.cfg")
	tests := []struct {
		name  string
		flag  string
		env   map[string]string
		paths []string
		// expand is the template expander; nil fails every template.
		expand func(string) (string, error)
		want   string
	}{
		{name: "flag first", flag: "127.0.2.1", env: map[string]string{EnvNode: "127.0.2.2", EnvBind: "127.0.2.3"}, paths: []string{cfg}, want: "http://127.0.2.1:8181"},
		{name: "then DISTSTORE_NODE", env: map[string]string{EnvNode: "127.0.2.2:9000", EnvBind: "127.0.2.3"}, want: "http://127.0.2.2:9000"},
		{name: "empty DISTSTORE_NODE is unset", env: map[string]string{EnvNode: "", EnvBind: "127.0.2.3"}, want: "http://127.0.2.3:8181"},
		{name: "then DISTSTORE_BIND and DISTSTORE_HTTP_PORT", env: map[string]string{EnvBind: "127.0.2.3", EnvHTTPPort: "9002"}, paths: []string{cfg}, want: "http://127.0.2.3:9002"},
		{name: "env over file per setting", env: map[string]string{EnvHTTPPort: "9002"}, paths: []string{missing, cfg}, want: "http://127.0.3.1:9002"},
		{name: "first existing config file", paths: []string{missing, cfg}, want: "http://127.0.3.1:9001"},
		{name: "DISTSTORE_CONFIG over the search path", env: map[string]string{EnvConfig: writeConfig(t, "[diststored]\nbind=127.0.4.1\n")}, paths: []string{cfg}, want: "http://127.0.4.1:8181"},
		{name: "bind template from the file", paths: []string{writeConfig(t, "[diststored]\nbind = {{ GetInterfaceIP \"eth7\" }}\n")}, expand: fixedExpand("127.0.5.1"), want: "http://127.0.5.1:8181"},
		{name: "default template", paths: []string{missing}, expand: fixedExpand("127.0.6.1\n"), want: "http://127.0.6.1:8181"},
		{name: "template answering a prefix", expand: fixedExpand("127.0.6.2/8"), want: "http://127.0.6.2:8181"},
		{name: "real template on loopback", env: map[string]string{EnvBind: `{{ GetAllInterfaces | include "flags" "loopback" | include "type" "IPv4" | attr "address" }}`}, expand: template.Parse, want: "http://127.0.0.1:8181"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Finder{
				LookupEnv:   func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok },
				ConfigPaths: tt.paths,
				Expand:      tt.expand,
			}
			if f.Expand == nil {
				f.Expand = func(string) (string, error) { return "", errors.New("no templates here") }
			}
			u, err := f.Find(tt.flag)
			require.NoError(t, err)
			assert.Equal(t, tt.want, u.String())
		})
	}
}

func TestFinder_Errors(t *testing.T) {
	dir := t.TempDir() // a directory where a file is expected: exists but cannot be read
	tests := []struct {
		name   string
		flag   string
		env    map[string]string
		paths  []string
		expand func(string) (string, error)
		err    string
	}{
		{name: "bad flag", flag: "ftp://x", err: `--node "ftp://x": scheme "ftp": want http or https`},
		{name: "bad env", env: map[string]string{EnvNode: "x:0"}, err: `DISTSTORE_NODE="x:0": not a port number (1-65535)`},
		{name: "bad port in env", env: map[string]string{EnvBind: "127.0.0.1", EnvHTTPPort: "http"},
			err: `finding the local node: DISTSTORE_HTTP_PORT "http": not a port number (1-65535); name a node with --node or DISTSTORE_NODE`},
		{name: "bad port in file", paths: []string{writeConfig(t, "[diststored]\nbind=127.0.0.1\nhttp_port = 0\n")},
			err: `finding the local node: PATH: http_port "0": not a port number (1-65535); name a node with --node or DISTSTORE_NODE`},
		{name: "template fails", expand: func(string) (string, error) { return "", errors.New("unable to parse") },
			err: `finding the local node: default bind '{{ GetPrivateIP }}': not an IP address nor a valid go-sockaddr template: unable to parse; name a node with --node or DISTSTORE_NODE`},
		{name: "template resolves to nothing", expand: fixedExpand(""),
			err: `finding the local node: default bind '{{ GetPrivateIP }}': resolved to no address; give an address or a template such as ` + BindHint + `; name a node with --node or DISTSTORE_NODE`},
		{name: "template resolves to two", env: map[string]string{EnvBind: "{{ GetAllInterfaces }}"}, expand: fixedExpand("10.0.0.1 10.0.0.2"),
			err: `finding the local node: DISTSTORE_BIND '{{ GetAllInterfaces }}': resolved to 2 addresses (10.0.0.1 10.0.0.2); pick one, e.g. ` + BindHint + `; name a node with --node or DISTSTORE_NODE`},
		{name: "an IPv6 bind (diststored binds IPv4 only)", env: map[string]string{EnvBind: "::1"},
			err: `finding the local node: DISTSTORE_BIND "::1": ::1 is not an IPv4 address; name a node with --node or DISTSTORE_NODE`},
		{name: "template resolves to a name", expand: fixedExpand("eth0"),
			err: `finding the local node: default bind '{{ GetPrivateIP }}': resolved to "eth0", which is not an IP address; name a node with --node or DISTSTORE_NODE`},
		{name: "unreadable config file", paths: []string{dir},
			err: "finding the local node: config file " + dir + ": read " + dir + ": is a directory; name a node with --node or DISTSTORE_NODE"},
		{name: "missing DISTSTORE_CONFIG", env: map[string]string{EnvConfig: dir + "/none.cfg"},
			err: "finding the local node: DISTSTORE_CONFIG: open " + dir + "/none.cfg: no such file or directory; name a node with --node or DISTSTORE_NODE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Finder{
				LookupEnv:   func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok },
				ConfigPaths: tt.paths,
				Expand:      tt.expand,
			}
			if f.Expand == nil {
				f.Expand = fixedExpand("127.0.0.1")
			}
			_, err := f.Find(tt.flag)
			want := tt.err
			if len(tt.paths) > 0 {
				want = strings.ReplaceAll(want, "PATH", tt.paths[0])
			}
			assert.EqualError(t, err, want)
		})
	}
}

func TestFinder_FindAll(t *testing.T) {
	f := Finder{LookupEnv: func(string) (string, bool) { return "", false }, Expand: func(string) (string, error) { return "127.0.2.9", nil }}
	urls := func(us []*url.URL) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.String())
		}
		return out
	}
	got, err := f.FindAll("127.0.2.1, 127.0.2.2:9000,,http://h")
	require.NoError(t, err)
	assert.Equal(t, []string{"http://127.0.2.1:8181", "http://127.0.2.2:9000", "http://h:8181"}, urls(got))

	got, err = f.FindAll("")
	require.NoError(t, err)
	assert.Equal(t, []string{"http://127.0.2.9:8181"}, urls(got), "the local node")

	env := Finder{LookupEnv: func(n string) (string, bool) { return "a,b", n == EnvNode }}
	got, err = env.FindAll("")
	require.NoError(t, err)
	assert.Equal(t, []string{"http://a:8181", "http://b:8181"}, urls(got))

	_, err = f.FindAll("a,ftp://b")
	assert.EqualError(t, err, `--node "ftp://b": scheme "ftp": want http or https`)
	_, err = f.FindAll(" , ")
	assert.EqualError(t, err, `--node " , ": no node named`)
}
