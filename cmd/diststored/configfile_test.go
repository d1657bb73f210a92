package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConfig(t *testing.T) {
	keys := configKeys()
	tests := []struct {
		name    string
		text    string
		want    map[string]configValue
		wantErr string // without the "diststored.cfg:" prefix
	}{
		{
			name: "original file",
			text: "[diststored]\nhttp_port = 8181\nmulticast_addr = 239.255.41.83\nmulticast_port = 4983\nmulticast_timeout = 1.0\n",
			want: map[string]configValue{
				"http_port": {"8181", 2}, "multicast_addr": {"239.255.41.83", 3},
				"multicast_port": {"4983", 4}, "multicast_timeout": {"1.0", 5},
			},
		},
		{
			name: "comments, colons, case, whitespace, other sections",
			text: "\ufeff# top\n; also\n[other]\nanything = goes\n  [ diststored ]  \n\tHTTP_Port:8282  \n" +
				"bind = {{ GetInterfaceIP \"eth0\" }} ; the LAN side\ninterface =\n[more]\nhttp_port = 1\n",
			want: map[string]configValue{
				"http_port": {"8282", 6}, "bind": {`{{ GetInterfaceIP "eth0" }}`, 7}, "interface": {"", 8},
			},
		},
		{
			name: "CRLF line ends",
			text: "[diststored]\r\ndata_dir = /srv/d\r\n",
			want: map[string]configValue{"data_dir": {"/srv/d", 2}},
		},
		{
			name: "value with = and #",
			text: "[diststored]\ndata_dir = /srv/a=b#c\n",
			want: map[string]configValue{"data_dir": {"/srv/a=b#c", 2}},
		},
		{name: "empty", text: "", want: map[string]configValue{}},
		{name: "unknown key", text: "[diststored]\n\nport = 1\n", wantErr: `:3: unknown key "port" in [diststored]`},
		{name: "malformed line", text: "[diststored]\nhttp_port 8181\n", wantErr: `:2: malformed line "http_port 8181"`},
		{name: "empty key", text: "[diststored]\n= 8181\n", wantErr: `:2: malformed line`},
		{name: "malformed section", text: "[diststored\nhttp_port = 1\n", wantErr: `:1: malformed section header`},
		{name: "key before section", text: "http_port = 1\n", wantErr: `:1: key "http_port" before any [section]`},
		{name: "duplicate key", text: "[diststored]\nbind = a\nbind = b\n", wantErr: `:3: key "bind" already set on line 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig("diststored.cfg", []byte(tt.text), keys)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, "diststored.cfg"+tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "diststored.cfg", got.path)
			assert.Equal(t, tt.want, got.values)
		})
	}
}

func TestOpenConfigFile_SearchOrder(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, name := range []string{"second.cfg", "third.cfg", "explicit.cfg"} {
		require.NoError(t, os.WriteFile(path(name), []byte("[diststored]\nbind = "+name+"\n"), 0o600))
	}
	require.NoError(t, os.Mkdir(path("dir.cfg"), 0o700))

	tests := []struct {
		name     string
		explicit string
		search   []string
		want     string // path read, "" for none
		wantErr  string
	}{
		{name: "first existing wins", search: []string{path("first.cfg"), path("second.cfg"), path("third.cfg")}, want: path("second.cfg")},
		{name: "order matters", search: []string{path("third.cfg"), path("second.cfg")}, want: path("third.cfg")},
		{name: "none exists", search: []string{path("a.cfg"), path("b.cfg")}, want: ""},
		{name: "no search path", want: ""},
		{name: "explicit skips search", explicit: path("explicit.cfg"), search: []string{path("second.cfg")}, want: path("explicit.cfg")},
		{name: "explicit must exist", explicit: path("first.cfg"), search: []string{path("second.cfg")}, wantErr: "no such file"},
		{name: "unreadable is not skipped", search: []string{path("dir.cfg"), path("second.cfg")}, wantErr: "dir.cfg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := openConfigFile(tt.explicit, tt.search, configKeys())
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.path)
			if tt.want != "" {
				assert.Equal(t, filepath.Base(tt.want), got.values["bind"].text)
			}
		})
	}
}

// TestLoadSettings_SearchPath checks that load reads the first existing
// file of its loader's search path and records which one it read.
func TestLoadSettings_SearchPath(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	second := filepath.Join(dir, "second.cfg")
	require.NoError(t, os.WriteFile(second, []byte("[diststored]\nhttp_port = 9191\n"), 0o600))

	got, err := runLoad(t, testLoader(filepath.Join(dir, "first.cfg"), second))
	require.NoError(t, err)
	assert.Equal(t, second, got.ConfigFile)
	assert.Equal(t, 9191, got.HTTPPort)
}
