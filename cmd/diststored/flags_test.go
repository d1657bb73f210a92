package main

import (
	"errors"
	"fmt"
	"github.com/diststore/diststore/internal/join"
	"github.com/diststore/diststore/internal/nodecfg"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
)

// testBind is what the fake expand of testLoader turns the default --bind
// template into, so tests do not depend on this machine's interfaces.
const testBind = "127.0.2.1"

// testLoader returns a loader that searches only paths and evaluates
// {{ GetPrivateIP }} to testBind, other templates for real.
func testLoader(paths ...string) loader {
	return loader{
		configPaths: paths,
		expand: func(tmpl string) (string, error) {
			if tmpl == defaultBind {
				return testBind, nil
			}
			return template.Parse(tmpl)
		},
		interfaces: testInterfaces,
	}
}

// testInterfaces is a dual-stack machine: eth0 has an IPv6 ULA, then an
// IPv4 address (from the loopback range: only ever parsed here).
func testInterfaces() ([]nodecfg.Interface, error) {
	return []nodecfg.Interface{
		{Name: "lo", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}},
		{Name: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("fd00::2"), netip.MustParseAddr("127.0.2.9")}},
		{Name: "eth1", Addrs: []netip.Addr{netip.MustParseAddr("fd00::3")}},
	}, nil
}

// clearEnv unsets every DISTSTORE_* variable of our flags for the test.
func clearEnv(t testing.TB) {
	t.Helper()
	for _, f := range Flags() {
		name := envVar(f.Names()[0])
		t.Setenv(name, "") // restores the old value at cleanup
		require.NoError(t, os.Unsetenv(name))
	}
}

// runLoad runs a diststored-like app with Flags() and args, and returns
// what l.load made of it.
func runLoad(t testing.TB, l loader, args ...string) (settings, error) {
	t.Helper()
	var got settings
	var loadErr error
	app := &cli.App{
		Name:      "diststored",
		Flags:     Flags(),
		Writer:    io.Discard,
		ErrWriter: io.Discard,
		Action: func(c *cli.Context) error {
			got, loadErr = l.load(c)
			return nil
		},
	}
	require.NoError(t, app.Run(append([]string{"diststored"}, args...)))
	return got, loadErr
}

// writeFile writes text to name in a new temporary directory and returns
// its path.
func writeFile(t testing.TB, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// defaults are the settings with nothing set anywhere.
func defaults() settings {
	return settings{
		Bind:             netip.MustParseAddr(testBind),
		HTTPPort:         8181,
		Group:            netip.MustParseAddrPort("239.255.41.83:4983"),
		UnicastPort:      4984,
		MulticastTimeout: time.Second,
		DataDir:          "./data",
		MaxValueSize:     1 << 20,
		CacheTTL:         10 * time.Minute,
		CacheMaxBytes:    256 << 20,
		TombstoneTTL:     24 * time.Hour,
		CacheMinReads:    1,
		MaxClockSkew:     time.Minute,
		AnswerFanout:     1,
		Multicast:        true,
		LogFormat:        "text",
		LogLevel:         slog.LevelInfo,
	}
}

func TestLoadSettings_Precedence(t *testing.T) {
	file := writeFile(t, "diststored.cfg", `
[diststored]
http_port = 8282
multicast_addr = 239.255.41.84
multicast_port: 5000
unicast_port = 5001
multicast_timeout = 0.25
bind = 127.0.2.2
interface = lo
data_dir = /var/lib/diststore
max_value_size = 512KiB
cache_ttl = 90s
cache_max_bytes = 1MiB
tombstone_ttl = 1h
pprof_addr = 127.0.0.1:6060
cache_min_reads = 3
answer_fanout = 0.5
join = 10.0.0.1, dns:store.lan, srv:_diststore._udp.lan
multicast = false
log_format = json
log_level = debug
`)
	fromFile := settings{
		Bind:             netip.MustParseAddr("127.0.2.2"),
		HTTPPort:         8282,
		Group:            netip.MustParseAddrPort("239.255.41.84:5000"),
		UnicastPort:      5001,
		MulticastTimeout: 250 * time.Millisecond,
		Interface:        "lo",
		DataDir:          "/var/lib/diststore",
		MaxValueSize:     512 << 10,
		CacheTTL:         90 * time.Second,
		CacheMaxBytes:    1 << 20,
		TombstoneTTL:     time.Hour,
		PprofAddr:        netip.MustParseAddrPort("127.0.0.1:6060"),
		CacheMinReads:    3,
		MaxClockSkew:     time.Minute,
		AnswerFanout:     0.5,
		Join: []join.Target{{Kind: join.Addr, Host: "10.0.0.1", Port: 5001}, {Kind: join.DNS, Host: "store.lan", Port: 5001},
			{Kind: join.SRV, Host: "_diststore._udp.lan"}},
		LogFormat:  "json",
		LogLevel:   slog.LevelDebug,
		ConfigFile: file,
	}
	with := func(s settings, f func(*settings)) settings { f(&s); return s }

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want settings
	}{
		{name: "default only", want: defaults()},
		{name: "file only", args: []string{"--config", file}, want: fromFile},
		{name: "file via env", env: map[string]string{"DISTSTORE_CONFIG": file}, want: fromFile},
		{
			name: "env over file",
			env: map[string]string{
				"DISTSTORE_HTTP_PORT":         "8383",
				"DISTSTORE_MULTICAST_TIMEOUT": "2s",
				"DISTSTORE_BIND":              "127.0.2.3",
				"DISTSTORE_MAX_VALUE_SIZE":    "64k",
				"DISTSTORE_LOG_LEVEL":         "warn",
			},
			args: []string{"--config", file},
			want: with(fromFile, func(s *settings) {
				s.HTTPPort = 8383
				s.MulticastTimeout = 2 * time.Second
				s.Bind = netip.MustParseAddr("127.0.2.3")
				s.MaxValueSize = 64 << 10
				s.LogLevel = slog.LevelWarn
			}),
		},
		{
			name: "flag over env",
			env: map[string]string{
				"DISTSTORE_HTTP_PORT":      "8383",
				"DISTSTORE_BIND":           "127.0.2.3",
				"DISTSTORE_MULTICAST_ADDR": "239.255.0.9",
			},
			args: []string{"--config", file, "--http-port", "8484", "--bind", "127.0.2.4", "--multicast-timeout", "1.5"},
			want: with(fromFile, func(s *settings) {
				s.HTTPPort = 8484
				s.Bind = netip.MustParseAddr("127.0.2.4")
				s.Group = netip.MustParseAddrPort("239.255.0.9:5000")
				s.MulticastTimeout = 1500 * time.Millisecond
			}),
		},
		{
			name: "flag over default",
			args: []string{"--interface", "lo", "--data-dir", "/tmp/d", "--log-format", "JSON", "--multicast-port", "4984", "--unicast-port", "0",
				"--join", "127.0.2.2:4984,127.0.2.3", "--dns-server", "127.0.3.1:53"},
			want: with(defaults(), func(s *settings) {
				s.Join = []join.Target{{Kind: join.Addr, Host: "127.0.2.2", Port: 4984}, {Kind: join.Addr, Host: "127.0.2.3", Port: 4984}}
				s.DNSServer = netip.MustParseAddrPort("127.0.3.1:53")
				s.UnicastPort = 0
				s.Interface = "lo"
				s.DataDir = "/tmp/d"
				s.LogFormat = "json"
				s.Group = netip.MustParseAddrPort("239.255.41.83:4984")
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := runLoad(t, testLoader(), tt.args...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestFlags_EnvCountsAsSet checks what the precedence rests on: urfave/cli
// v2 reports a flag set by its environment variable as set.
func TestFlags_EnvCountsAsSet(t *testing.T) {
	clearEnv(t)
	t.Setenv("DISTSTORE_HTTP_PORT", "9000")
	app := &cli.App{Flags: Flags(), Writer: io.Discard, Action: func(c *cli.Context) error {
		assert.True(t, c.IsSet(flagHTTPPort))
		assert.Equal(t, 9000, c.Int(flagHTTPPort))
		assert.False(t, c.IsSet(flagBind))
		return nil
	}}
	require.NoError(t, app.Run([]string{"diststored"}))
}

func TestFlags_EnvVarNames(t *testing.T) {
	var got []string
	for _, f := range Flags() {
		got = append(got, f.(cli.DocGenerationFlag).GetEnvVars()...)
	}
	assert.Equal(t, []string{
		"DISTSTORE_CONFIG", "DISTSTORE_BIND", "DISTSTORE_HTTP_PORT", "DISTSTORE_MULTICAST_ADDR",
		"DISTSTORE_MULTICAST_PORT", "DISTSTORE_UNICAST_PORT", "DISTSTORE_MULTICAST_TIMEOUT", "DISTSTORE_INTERFACE",
		"DISTSTORE_DATA_DIR", "DISTSTORE_MAX_VALUE_SIZE",
		"DISTSTORE_CACHE_TTL", "DISTSTORE_CACHE_MAX_BYTES", "DISTSTORE_TOMBSTONE_TTL", "DISTSTORE_CACHE_MIN_READS", "DISTSTORE_ANSWER_FANOUT", "DISTSTORE_MAX_CLOCK_SKEW", "DISTSTORE_CLUSTER_KEY_FILE", "DISTSTORE_CLIENT_TOKEN_FILE", "DISTSTORE_JOIN", "DISTSTORE_MULTICAST", "DISTSTORE_DNS_SERVER", "DISTSTORE_PPROF_ADDR", "DISTSTORE_LOG_FORMAT", "DISTSTORE_LOG_LEVEL",
	}, got)
}

func TestLoadSettings_Errors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		file       string // written to the search path when not ""
		wantSource string // settingError.Source, "" when not a settingError
		wantErr    string
	}{
		{
			name: "bad timeout flag", args: []string{"--multicast-timeout", "abc"},
			wantSource: "--multicast-timeout", wantErr: `--multicast-timeout "abc": not a duration or number of seconds`,
		},
		{
			name: "bad timeout in file", file: "[diststored]\n\nmulticast_timeout = abc\n",
			wantSource: "diststored.cfg:3: multicast_timeout", wantErr: `diststored.cfg:3: multicast_timeout "abc": not a duration`,
		},
		{
			name: "bad size", args: []string{"--max-value-size", "1 parsec"},
			wantSource: "--max-value-size", wantErr: "not a size",
		},
		{
			name: "bad port", args: []string{"--http-port", "0"},
			wantSource: "--http-port", wantErr: "not a port number",
		},
		{
			name: "negative unicast port", args: []string{"--unicast-port", "-1"},
			wantSource: "--unicast-port", wantErr: "or 0 for one the kernel picks",
		},
		{
			name: "unicast port too large in file", file: "[diststored]\nunicast_port = 65536\n",
			wantSource: "diststored.cfg:2: unicast_port", wantErr: "not a port number",
		},
		{
			name: "port too large in file", file: "[diststored]\nmulticast_port = 70000\n",
			wantSource: "diststored.cfg:2: multicast_port", wantErr: "not a port number",
		},
		{
			name: "bad log format", args: []string{"--log-format", "xml"},
			wantSource: "--log-format", wantErr: "want text or json",
		},
		{
			name: "bad log level", args: []string{"--log-level", "loud"},
			wantSource: "--log-level", wantErr: "want debug, info, warn or error",
		},
		{
			name: "empty data dir", args: []string{"--data-dir", " "},
			wantSource: "--data-dir", wantErr: "empty directory name",
		},
		{
			name: "missing explicit config", args: []string{"--config", "/nonexistent/diststored.cfg"},
			wantSource: "--config", wantErr: `--config "/nonexistent/diststored.cfg": no such file`,
		},
		{
			name: "unknown key", file: "[diststored]\nhttp_prot = 1\n",
			wantErr: `diststored.cfg:2: unknown key "http_prot" in [diststored]`,
		},
		{
			name: "multicast addr", args: []string{"--multicast-addr", "224.0.0.1"},
			wantSource: "--multicast-addr", wantErr: "224.0.0.0/24 is reserved",
		},
		{
			name: "multicast off without join", args: []string{"--multicast=false"},
			wantSource: "--join", wantErr: "--multicast=false needs --join",
		},
		{
			name: "multicast off without join in file", file: "[diststored]\nmulticast = no\n",
			wantSource: "--join (default)", wantErr: "--multicast=false needs --join",
		},
		{
			name: "bad join", args: []string{"--join", "10.0.0.1,dns:bad name!"},
			wantSource: "--join", wantErr: "bad join target",
		},
		{
			name: "bad multicast in file", file: "[diststored]\nmulticast = maybe\n",
			wantSource: "diststored.cfg:2: multicast", wantErr: "want true or false",
		},
		{
			name: "bad dns server", args: []string{"--dns-server", "localhost"},
			wantSource: "--dns-server", wantErr: "not an IPv4 address:port",
		},
		{
			name: "bind", args: []string{"--bind", "::1"},
			wantSource: "--bind", wantErr: `--bind "::1": ::1 is not an IPv4 address`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			var paths []string
			if tt.file != "" {
				paths = append(paths, writeFile(t, "diststored.cfg", tt.file))
			}
			_, err := runLoad(t, testLoader(paths...), tt.args...)
			require.ErrorContains(t, err, tt.wantErr)
			var se *settingError
			if tt.wantSource == "" {
				assert.False(t, errors.As(err, &se), "want a config file error, got a settingError")
				return
			}
			require.ErrorAs(t, err, &se)
			assert.Contains(t, se.Source, tt.wantSource)
		})
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "1.0", want: time.Second},
		{in: "0.25", want: 250 * time.Millisecond},
		{in: "1", want: time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "2s", want: 2 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "abc", wantErr: "not a duration or number of seconds"},
		{in: "", wantErr: "not a duration or number of seconds"},
		{in: "1.0s5", wantErr: "not a duration or number of seconds"},
		{in: "5 s", wantErr: "not a duration or number of seconds"},
		{in: "0", wantErr: "must be positive"},
		{in: "-1", wantErr: "must be positive"},
		{in: "-250ms", wantErr: "must be positive"},
		{in: "NaN", wantErr: "out of range"},
		{in: "1e300", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimeout(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "1048576", want: 1 << 20},
		{in: "1", want: 1},
		{in: "100b", want: 100},
		{in: "1MiB", want: 1 << 20},
		{in: "1mib", want: 1 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "512 KiB", want: 512 << 10},
		{in: "64k", want: 64 << 10},
		{in: "64K", want: 64 << 10},
		{in: "2Mi", want: 2 << 20},
		{in: "1MB", want: 1_000_000},
		{in: "1kB", want: 1000},
		{in: "1GiB", want: 1 << 30},
		{in: "1G", want: 1 << 30},
		{in: "1.5MiB", want: 3 << 19},
		{in: "0.5k", want: 512},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", wantErr: "too large"},
		{in: "99999999999999999999", wantErr: "too large"},
		{in: "", wantErr: "not a size"},
		{in: "MiB", wantErr: "not a size"},
		{in: "1.2.3", wantErr: "not a size"},
		{in: ".", wantErr: "not a size"},
		{in: "-1", wantErr: "not a size"},
		{in: "1 parsec", wantErr: "not a size"},
		{in: "1XB", wantErr: "not a size"},
		{in: "0", wantErr: "must be positive"},
		{in: "0.1b", wantErr: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseGroup(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "239.255.41.83", want: "239.255.41.83"},
		{in: "224.0.1.1", want: "224.0.1.1"},
		{in: "::ffff:239.1.2.3", want: "239.1.2.3"},
		{in: "224.0.0.1", wantErr: "224.0.0.0/24 is reserved for local network control"},
		{in: "224.0.0.251", wantErr: "224.0.0.0/24 is reserved"},
		{in: "127.0.2.1", wantErr: "not a multicast address"},
		{in: "ff02::1", wantErr: "not an IPv4 address"},
		{in: "group", wantErr: "not an IP address"},
		{in: "", wantErr: "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseGroup(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, netip.MustParseAddr(tt.want), got)
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"warning": slog.LevelWarn, "error": slog.LevelError, "debug-2": slog.LevelDebug - 2,
	} {
		got, err := parseLogLevel(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := parseLogLevel("verbose")
	require.Error(t, err)
}

func TestParsePprofAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "invalid AddrPort", false},
		{"127.0.0.1:6060", "127.0.0.1:6060", false},
		{"[::1]:6060", "[::1]:6060", false},
		{"192.168.1.5:6060", "", true},
		{"0.0.0.0:6060", "", true},
		{"localhost:6060", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePprofAddr(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.String())
		})
	}
}

// TestLoadSettings_BindTemplate runs a real template through the flag, so
// the message names the flag and the template.
func TestLoadSettings_BindTemplate(t *testing.T) {
	clearEnv(t)
	tmpl := `{{ GetAllInterfaces | include "name" "^lo$" | include "type" "IPv4" | attr "address" }}`
	got, err := runLoad(t, testLoader(), "--bind", tmpl)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), got.Bind)

	tmpl = `{{ GetAllInterfaces | include "name" "^no-such-interface$" | attr "address" }}`
	_, err = runLoad(t, testLoader(), "--bind", tmpl)
	require.EqualError(t, err, `--bind '`+tmpl+`': resolved to no address; give an address or a template such as `+nodecfg.BindHint)
}

// TestLoadSettings_BindDualStack: the README's
// --bind '{{ GetInterfaceIP "eth0" }}' on a dual-stack host whose
// go-sockaddr answers the IPv6 address starts on the interface's IPv4
// address and says so; on an interface with no IPv4 address it refuses,
// naming the flag.
func TestLoadSettings_BindDualStack(t *testing.T) {
	clearEnv(t)
	l := testLoader()
	l.expand = func(tmpl string) (string, error) {
		switch tmpl {
		case `{{ GetInterfaceIP "eth0" }}`:
			return "fd00::2", nil
		case `{{ GetInterfaceIP "eth1" }}`:
			return "fd00::3", nil
		}
		return "", fmt.Errorf("unexpected template %s", tmpl)
	}
	got, err := runLoad(t, l, "--bind", `{{ GetInterfaceIP "eth0" }}`)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("127.0.2.9"), got.Bind)
	assert.Equal(t, "the bind template gave fd00::2, an IPv6 address of eth0; using its IPv4 address 127.0.2.9", got.BindNote)

	_, err = runLoad(t, l, "--bind", `{{ GetInterfaceIP "eth1" }}`)
	require.ErrorContains(t, err, `--bind '{{ GetInterfaceIP "eth1" }}': resolved to fd00::3, an IPv6 address of eth1, which has no IPv4 address`)
}
