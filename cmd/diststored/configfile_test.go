package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			assert.Equal(t, tt.want, got.Path)
			if tt.want != "" {
				assert.Equal(t, filepath.Base(tt.want), got.Values["bind"].Text)
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

// TestShippedConfig_NamesEveryKey: the Debian package's diststored.cfg is
// a file the daemon reads, and names every setting (set, or commented out
// with its default), so an operator finds each one where it goes.
func TestShippedConfig_NamesEveryKey(t *testing.T) {
	const shipped = "../../packaging/debian/diststored.cfg"
	f, err := openConfigFile(shipped, nil, configKeys())
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/diststore", f.Values["data_dir"].Text)

	b, err := os.ReadFile(shipped)
	require.NoError(t, err)
	named := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(line, "#")
		if k, _, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(k, " ") {
			named[k] = true
		}
	}
	for _, k := range configKeys() {
		assert.True(t, named[k], "the shipped diststored.cfg does not name %q", k)
	}
	for k := range named {
		assert.Contains(t, configKeys(), k, "the shipped diststored.cfg names a key the daemon does not know")
	}
}
