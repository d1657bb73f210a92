package nodecfg

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	keys := []string{"bind", "http_port", "multicast_addr", "multicast_port", "multicast_timeout", "interface", "data_dir"}
	tests := []struct {
		name    string
		text    string
		want    map[string]Value
		wantErr string // without the "diststored.cfg:" prefix
	}{
		{
			name: "original file",
			text: "[diststored]\nhttp_port = 8181\nmulticast_addr = 239.255.41.83\nmulticast_port = 4983\nmulticast_timeout = 1.0\n",
			want: map[string]Value{
				"http_port": {"8181", 2}, "multicast_addr": {"239.255.41.83", 3},
				"multicast_port": {"4983", 4}, "multicast_timeout": {"1.0", 5},
			},
		},
		{
			name: "comments, colons, case, whitespace, other sections",
			text: "\ufeff# top\n; also\n[other]\nanything = goes\n  [ diststored ]  \n\tHTTP_Port:8282  \n" +
				"bind = {{ GetInterfaceIP \"eth0\" }} ; the LAN side\ninterface =\n[more]\nhttp_port = 1\n",
			want: map[string]Value{
				"http_port": {"8282", 6}, "bind": {`{{ GetInterfaceIP "eth0" }}`, 7}, "interface": {"", 8},
			},
		},
		{
			name: "CRLF line ends",
			text: "[diststored]\r\ndata_dir = /srv/d\r\n",
			want: map[string]Value{"data_dir": {"/srv/d", 2}},
		},
		{
			name: "value with = and #",
			text: "[diststored]\ndata_dir = /srv/a=b#c\n",
			want: map[string]Value{"data_dir": {"/srv/a=b#c", 2}},
		},
		{name: "empty", text: "", want: map[string]Value{}},
		{name: "unknown key", text: "[diststored]\n\nport = 1\n", wantErr: `:3: unknown key "port" in [diststored]`},
		{name: "malformed line", text: "[diststored]\nhttp_port 8181\n", wantErr: `:2: malformed line "http_port 8181"`},
		{name: "empty key", text: "[diststored]\n= 8181\n", wantErr: `:2: malformed line`},
		{name: "malformed section", text: "[diststored\nhttp_port = 1\n", wantErr: `:1: malformed section header`},
		{name: "key before section", text: "http_port = 1\n", wantErr: `:1: key "http_port" before any [section]`},
		{name: "duplicate key", text: "[diststored]\nbind = a\nbind = b\n", wantErr: `:3: key "bind" already set on line 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("diststored.cfg", []byte(tt.text), keys)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, "diststored.cfg"+tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "diststored.cfg", got.Path)
			assert.Equal(t, tt.want, got.Values)
		})
	}
}

// TestParse_Lenient: a line Parse cannot take is skipped, the error names
// the first, and every other value is returned: what the client uses.
func TestParse_Lenient(t *testing.T) {
	got, err := Parse("f", []byte("\ufeff[diststored]\r\nbind = 127.0.0.1 ; comment\r\nnot a setting\nbind = 10.0.0.1\nx=a#b\n[diststored2]\nhttp_port = 1\n"), nil)
	assert.EqualError(t, err, `f:3: malformed line "not a setting", want key = value`)
	assert.Equal(t, map[string]Value{"bind": {"127.0.0.1", 2}, "x": {"a#b", 5}}, got.Values)
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, name := range []string{"second.cfg", "third.cfg"} {
		require.NoError(t, os.WriteFile(path(name), []byte(name), 0o600))
	}
	require.NoError(t, os.Mkdir(path("dir.cfg"), 0o700))

	p, data, err := Open("", []string{path("first.cfg"), path("second.cfg"), path("third.cfg")})
	require.NoError(t, err)
	assert.Equal(t, path("second.cfg"), p)
	assert.Equal(t, "second.cfg", string(data))

	p, data, err = Open("", []string{path("first.cfg")})
	require.NoError(t, err)
	assert.Empty(t, p)
	assert.Nil(t, data)

	_, _, err = Open(path("first.cfg"), []string{path("second.cfg")})
	assert.ErrorIs(t, err, fs.ErrNotExist, "an explicit file must exist")

	_, _, err = Open("", []string{path("dir.cfg"), path("second.cfg")})
	assert.ErrorContains(t, err, "dir.cfg", "a file that cannot be read is not skipped")
}
