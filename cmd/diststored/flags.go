package main

import (
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/internal/join"
	"github.com/diststore/diststore/internal/nodecfg"
)

// Flag names. The config file key of a setting is its flag name with dashes
// turned into underscores (see fileKey); its environment variable is
// DISTSTORE_ followed by the name upper-cased, dashes turned into
// underscores (see envVar).
const (
	flagConfig           = "config"
	flagBind             = "bind"
	flagHTTPPort         = "http-port"
	flagMulticastAddr    = "multicast-addr"
	flagMulticastPort    = "multicast-port"
	flagMulticastTimeout = "multicast-timeout"
	flagUnicastPort      = "unicast-port"
	flagInterface        = "interface"
	flagDataDir          = "data-dir"
	flagMaxValueSize     = "max-value-size"
	flagLogFormat        = "log-format"
	flagLogLevel         = "log-level"
	flagCacheTTL         = "cache-ttl"
	flagCacheMaxBytes    = "cache-max-bytes"
	flagTombstoneTTL     = "tombstone-ttl"
	flagPprofAddr        = "pprof-addr"
	flagCacheMinReads    = "cache-min-reads"
	flagAnswerFanout     = "answer-fanout"
	flagMaxClockSkew     = "max-clock-skew"
	flagClusterKeyFile   = "cluster-key-file"
	flagClientTokenFile  = "client-token-file"
	flagJoin             = "join"
	flagMulticast        = "multicast"
	flagDNSServer        = "dns-server"
)

// Defaults. Those the client shares (bind, HTTP port) and the multicast
// group are nodecfg's; the timeout is the original pydiststore's and equals
// cluster.DefaultMulticastTimeout.
const (
	defaultBind             = nodecfg.DefaultBind
	defaultHTTPPort         = nodecfg.DefaultHTTPPort
	defaultMulticastAddr    = nodecfg.DefaultMulticastAddr
	defaultMulticastPort    = nodecfg.DefaultMulticastPort
	defaultUnicastPort      = nodecfg.DefaultUnicastPort
	defaultMulticastTimeout = "1s"
	defaultDataDir          = "./data"
	defaultMaxValueSize     = "1MiB"
	defaultLogFormat        = "text"
	defaultLogLevel         = "info"
	defaultCacheTTL         = "10m"
	defaultCacheMaxBytes    = "256MiB"
	defaultTombstoneTTL     = "24h"
	defaultMaxClockSkew     = "1m"
)

// settings is diststored's finished configuration, resolved from flags,
// environment, config file and defaults, in that order of precedence.
type settings struct {
	Bind             netip.Addr     // resolved, exactly one IPv4 address
	BindNote         string         // why Bind is not what the bind template gave ("" if it is), for the log
	HTTPPort         int            // 1–65535
	Group            netip.AddrPort // multicast group address and port
	UnicastPort      int            // 0–65535; 0 = one the kernel picks
	MulticastTimeout time.Duration  // > 0
	Interface        string         // "" = the interface that holds Bind (resolved later by the transport)
	DataDir          string         // never ""
	MaxValueSize     int64          // bytes, > 0
	CacheTTL         time.Duration  // > 0
	CacheMaxBytes    int64          // bytes, > 0
	TombstoneTTL     time.Duration  // > 0
	PprofAddr        netip.AddrPort // loopback; zero = no pprof listener
	CacheMinReads    int            // >= 1
	AnswerFanout     float64        // > 0
	MaxClockSkew     time.Duration  // > 0
	ClusterKeyFile   string         // "" = no cluster key
	ClientTokenFile  string         // "" = no client tokens; needs ClusterKeyFile
	Join             []join.Target  // nodes to contact by unicast; nil = multicast only
	Multicast        bool           // join the group; false needs Join
	DNSServer        netip.AddrPort // resolve Join names here, not with the system's resolver; zero = the system's
	LogFormat        string         // "text" or "json"
	LogLevel         slog.Level
	ConfigFile       string // the file that was read, "" if none
}

// settingError reports a setting whose value cannot be used. Source says
// where the value came from: "--bind" for a flag or its environment
// variable, "/etc/diststored.cfg:3: bind" for a config file line.
type settingError struct {
	Source string
	Value  string
	Err    error
}

// Error formats e as `--multicast-timeout "abc": not a duration or number
// of seconds`. A value that holds double quotes, as templates do, is put
// in single quotes instead, so it reads as written:
// `--bind '{{ GetInterfaceIP "eth0" }}': ...`.
func (e *settingError) Error() string {
	v := strconv.Quote(e.Value)
	if strings.Contains(e.Value, `"`) && !strings.Contains(e.Value, "'") && strconv.CanBackquote(e.Value) {
		v = "'" + e.Value + "'"
	}
	return fmt.Sprintf("%s %s: %v", e.Source, v, e.Err)
}

// Unwrap returns the reason the value was refused.
func (e *settingError) Unwrap() error { return e.Err }

// envVar returns the environment variable that also sets the flag name.
func envVar(name string) string {
	return "DISTSTORE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// fileKey returns the config file key of the flag name.
func fileKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Flags returns the CLI flags of diststored (urfave/cli/v2). Every flag also
// reads env var DISTSTORE_<NAME> (upper-case, dashes→underscores). It returns
// new flags on every call: urfave/cli records in a flag whether it was set.
//
// Settings that need parsing of their own (durations that may be bare
// seconds, sizes with units) are string flags; loadSettings parses them.
func Flags() []cli.Flag {
	str := func(name, value, usage string) *cli.StringFlag {
		return &cli.StringFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{envVar(name)}}
	}
	port := func(name string, value int, usage string) *cli.IntFlag {
		return &cli.IntFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{envVar(name)}}
	}
	return []cli.Flag{
		&cli.StringFlag{
			Name:      flagConfig,
			Usage:     "read settings from `FILE` (INI, section [diststored]); when not given, the first existing of ./diststored.cfg, /usr/local/etc/diststored.cfg, /etc/diststored.cfg",
			EnvVars:   []string{envVar(flagConfig)},
			TakesFile: true,
		},
		str(flagBind, defaultBind, "the node's `ADDRESS`: an IPv4 address or a go-sockaddr template that resolves to exactly one, e.g. '"+nodecfg.BindHint+"' (a template that gives an IPv6 address of an interface with an IPv4 address gives that IPv4 address)"),
		port(flagHTTPPort, defaultHTTPPort, "HTTP `PORT`, the same on every node"),
		str(flagMulticastAddr, defaultMulticastAddr, "multicast group `ADDRESS` (IPv4, not in 224.0.0.0/24)"),
		port(flagMulticastPort, defaultMulticastPort, "multicast group `PORT`"),
		port(flagUnicastPort, defaultUnicastPort, "UDP `PORT` on --bind where answers to this node's queries arrive (allow it in the firewall between nodes); 0 lets the kernel pick one, which no firewall rule can allow"),
		str(flagMulticastTimeout, defaultMulticastTimeout, "how long a query waits for answers: a Go `DURATION` (250ms) or seconds (0.25)"),
		str(flagInterface, "", "network `NAME` to join the multicast group on (default: the interface that holds --bind)"),
		str(flagDataDir, defaultDataDir, "`DIR` of the durable store"),
		str(flagMaxValueSize, defaultMaxValueSize, "largest value accepted, a `SIZE` in bytes or with a unit: 512KiB, 1MiB, 64k (=64KiB), 1MB (=10^6)"),
		str(flagCacheTTL, defaultCacheTTL, "how long a non-master keeps a copy it fetched or that was written through it, a `DURATION`"),
		str(flagCacheMaxBytes, defaultCacheMaxBytes, "bound on the copies a non-master keeps, a `SIZE`; least recently used go first"),
		str(flagTombstoneTTL, defaultTombstoneTTL, "how long a deleted key's tombstone is kept, a `DURATION`: a node down longer than this may bring a deleted key back"),
		str(flagCacheMinReads, "1", "reads of a key a non-master sees within --cache-ttl before it keeps a copy, a `COUNT`; 1 copies on every read, as the original"),
		str(flagAnswerFanout, "1", "how many non-master holders answer a whohas on average, a `NUMBER`; the masters always answer"),
		str(flagMaxClockSkew, defaultMaxClockSkew, "how far ahead of this node's clock a version may be, a `DURATION`; one further ahead (a node whose clock is wrong, or a forger) is refused"),
		&cli.StringFlag{Name: flagClusterKeyFile, Usage: "seal datagrams and sign node-to-node requests with the cluster key in `FILE` (base64 keys, one per line, the first used to send; make one with `diststore keygen`; mode 600); SIGHUP reloads it. Without it any host on the LAN can join the cluster",
			EnvVars: []string{envVar(flagClusterKeyFile)}, TakesFile: true},
		&cli.StringFlag{Name: flagClientTokenFile, Usage: "require a client token on the API: `FILE` of lines \"ro TOKEN\" (read) or \"rw TOKEN\" (read and write), mode 600; SIGHUP reloads it. Needs --" + flagClusterKeyFile,
			EnvVars: []string{envVar(flagClientTokenFile)}, TakesFile: true},
		str(flagJoin, "", "nodes to contact by unicast, for networks without multicast: `ADDR[,ADDR...]`, each HOST[:PORT] (PORT is the peer's --unicast-port, default 4984), dns:NAME[:PORT] (every A record of NAME) or srv:NAME (SRV records: host and port); names are resolved at start and every 30s"),
		&cli.BoolFlag{Name: flagMulticast, Value: true, Usage: "join the multicast group; --multicast=false opens no group socket and sends no multicast (then --join is needed)",
			EnvVars: []string{envVar(flagMulticast)}},
		&cli.StringFlag{Name: flagDNSServer, Hidden: true, Usage: "resolve --join names with the DNS server at `ADDR:PORT` rather than the system's (for tests)",
			EnvVars: []string{envVar(flagDNSServer)}},
		str(flagPprofAddr, "", "serve Go's pprof profiles on `ADDR:PORT`, a loopback address only (e.g. 127.0.0.1:6060); off by default"),
		str(flagLogFormat, defaultLogFormat, "log `FORMAT`: text or json"),
		str(flagLogLevel, defaultLogLevel, "log `LEVEL`: debug, info, warn or error"),
	}
}

// configKeys returns the keys allowed in the [diststored] section of a
// config file: one per flag, except --config.
func configKeys() []string {
	var keys []string
	for _, f := range Flags() {
		if name := f.Names()[0]; name != flagConfig && name != flagDNSServer {
			keys = append(keys, fileKey(name))
		}
	}
	return keys
}

// loader resolves settings. Its fields are what tests replace.
type loader struct {
	// configPaths are the config files tried in order when --config is not
	// given; the first that exists is read.
	configPaths []string
	// expand evaluates a go-sockaddr template (template.Parse).
	expand func(tmpl string) (string, error)
	// interfaces lists the machine's interfaces (nodecfg.SystemInterfaces).
	interfaces func() ([]nodecfg.Interface, error)
}

// defaultLoader returns the loader diststored uses.
func defaultLoader() loader {
	return loader{
		configPaths: nodecfg.DefaultPaths(),
		expand:      template.Parse,
		interfaces:  nodecfg.SystemInterfaces,
	}
}

// loadSettings resolves flags > environment > config file > defaults into settings.
func loadSettings(c *cli.Context) (settings, error) {
	return defaultLoader().load(c)
}

// load resolves flags > environment > config file > defaults into settings.
// c must come from an app whose flags are Flags().
func (l loader) load(c *cli.Context) (settings, error) {
	var explicit string
	if c.IsSet(flagConfig) {
		explicit = c.String(flagConfig)
		if explicit == "" {
			return settings{}, &settingError{Source: "--" + flagConfig, Err: fmt.Errorf("empty file name")}
		}
	}
	file, err := openConfigFile(explicit, l.configPaths, configKeys())
	if err != nil {
		return settings{}, err
	}
	src := sources{c: c, file: file}

	s := settings{ConfigFile: file.Path}
	var group netip.Addr
	var groupPort int
	steps := []struct {
		flag  string
		parse func(text string) error
	}{
		{flagHTTPPort, func(t string) (err error) { s.HTTPPort, err = nodecfg.ParsePort(t); return err }},
		{flagMulticastAddr, func(t string) (err error) { group, err = parseGroup(t); return err }},
		{flagMulticastPort, func(t string) (err error) { groupPort, err = nodecfg.ParsePort(t); return err }},
		{flagMulticastTimeout, func(t string) (err error) { s.MulticastTimeout, err = parseTimeout(t); return err }},
		{flagUnicastPort, func(t string) (err error) { s.UnicastPort, err = nodecfg.ParsePortOrZero(t); return err }},
		{flagInterface, func(t string) error { s.Interface = t; return nil }},
		{flagDataDir, func(t string) error {
			if t == "" {
				return fmt.Errorf("empty directory name")
			}
			s.DataDir = t
			return nil
		}},
		{flagMaxValueSize, func(t string) (err error) { s.MaxValueSize, err = parseSize(t); return err }},
		{flagCacheTTL, func(t string) (err error) { s.CacheTTL, err = parseTimeout(t); return err }},
		{flagCacheMaxBytes, func(t string) (err error) { s.CacheMaxBytes, err = parseSize(t); return err }},
		{flagTombstoneTTL, func(t string) (err error) { s.TombstoneTTL, err = parseTimeout(t); return err }},
		{flagPprofAddr, func(t string) (err error) { s.PprofAddr, err = parsePprofAddr(t); return err }},
		{flagCacheMinReads, func(t string) (err error) { s.CacheMinReads, err = parseCount(t); return err }},
		{flagAnswerFanout, func(t string) (err error) { s.AnswerFanout, err = parseFanout(t); return err }},
		{flagMaxClockSkew, func(t string) (err error) { s.MaxClockSkew, err = parseTimeout(t); return err }},
		{flagClusterKeyFile, func(t string) error { s.ClusterKeyFile = t; return nil }},
		{flagClientTokenFile, func(t string) error {
			if t != "" && s.ClusterKeyFile == "" {
				return fmt.Errorf("client tokens need a cluster key (--%s): without one, any host on the LAN can write through the node-to-node routes", flagClusterKeyFile)
			}
			s.ClientTokenFile = t
			return nil
		}},
		{flagMulticast, func(t string) (err error) { s.Multicast, err = parseBool(t); return err }},
		{flagJoin, func(t string) (err error) {
			// A peer's unicast port is by default this node's: the same on
			// every node, like the HTTP port.
			port := uint16(s.UnicastPort)
			if port == 0 {
				port = defaultUnicastPort
			}
			if s.Join, err = join.Parse(t, port); err == nil && len(s.Join) == 0 && !s.Multicast {
				err = fmt.Errorf("--%s=false needs --%s: a node without the group finds no other node", flagMulticast, flagJoin)
			}
			return err
		}},
		{flagDNSServer, func(t string) (err error) { s.DNSServer, err = parseDNSServer(t); return err }},
		{flagLogFormat, func(t string) (err error) { s.LogFormat, err = parseLogFormat(t); return err }},
		{flagLogLevel, func(t string) (err error) { s.LogLevel, err = parseLogLevel(t); return err }},
		// Last: the only step that looks at the machine's interfaces.
		{flagBind, func(t string) (err error) {
			s.Bind, s.BindNote, err = nodecfg.ResolveBindOn(t, l.expand, l.interfaces)
			return err
		}},
	}
	for _, st := range steps {
		text, source := src.lookup(st.flag)
		text = strings.TrimSpace(text)
		if err := st.parse(text); err != nil {
			return settings{}, &settingError{Source: source, Value: text, Err: err}
		}
	}
	s.Group = netip.AddrPortFrom(group, uint16(groupPort))
	return s, nil
}

// sources are where a setting's text comes from, in order of precedence:
// the command line or the environment, then the config file, then the
// flag's default.
type sources struct {
	c    *cli.Context
	file nodecfg.File
}

// lookup returns the text of the setting named by flag and the source to
// name in an error about it.
func (s sources) lookup(flag string) (text, source string) {
	// IsSet is true for a flag given on the command line and for one whose
	// environment variable is set (urfave/cli v2 marks both).
	if s.c.IsSet(flag) {
		return fmt.Sprint(s.c.Value(flag)), "--" + flag
	}
	if v, ok := s.file.Values[fileKey(flag)]; ok {
		return v.Text, fmt.Sprintf("%s:%d: %s", s.file.Path, v.Line, fileKey(flag))
	}
	return fmt.Sprint(s.c.Value(flag)), "--" + flag + " (default)"
}

// parseGroup parses the multicast group address: IPv4, multicast, and not
// in 224.0.0.0/24, the block reserved for local network control (224.0.0.1
// is every host on the link).
func parseGroup(text string) (netip.Addr, error) {
	a, err := netip.ParseAddr(text)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("not an IP address")
	case !a.Unmap().Is4():
		return netip.Addr{}, fmt.Errorf("not an IPv4 address")
	case !a.IsMulticast():
		return netip.Addr{}, fmt.Errorf("not a multicast address (224.0.0.0/4); use e.g. %s", defaultMulticastAddr)
	case a.IsLinkLocalMulticast():
		return netip.Addr{}, fmt.Errorf("224.0.0.0/24 is reserved for local network control; use an administratively scoped group (239.0.0.0/8) such as %s", defaultMulticastAddr)
	}
	return a.Unmap(), nil
}

// parseTimeout parses a positive duration written as Go duration ("250ms",
// "2s") or, as the original's config file does, as a number of seconds
// ("1.0", "0.25").
func parseTimeout(text string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("out of range")
		}
		d = time.Duration(math.Round(f * float64(time.Second)))
	} else if d, err = time.ParseDuration(text); err != nil {
		return 0, fmt.Errorf("not a duration or number of seconds")
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return d, nil
}

// parseSize parses a positive number of bytes with an optional unit, case
// insensitive, as GNU coreutils reads them: "b" or none = 1; "k", "ki",
// "kib" = 1024 (and m, g, t likewise); "kb" = 1000 (and mb, gb, tb). The
// number may have a fraction ("1.5MiB"), rounded down to whole bytes.
func parseSize(text string) (int64, error) {
	bad := fmt.Errorf("not a size (e.g. 1048576, 512KiB, 1MiB, 1MB)")
	i := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(text)
	}
	num, unit := text[:i], strings.ToLower(strings.TrimSpace(text[i:]))
	mult := float64(1)
	switch unit {
	case "", "b":
	case "k", "ki", "kib":
		mult = 1 << 10
	case "m", "mi", "mib":
		mult = 1 << 20
	case "g", "gi", "gib":
		mult = 1 << 30
	case "t", "ti", "tib":
		mult = 1 << 40
	case "kb":
		mult = 1e3
	case "mb":
		mult = 1e6
	case "gb":
		mult = 1e9
	case "tb":
		mult = 1e12
	default:
		return 0, bad
	}
	if num == "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, bad
	}
	if !strings.Contains(num, ".") { // exact integer arithmetic
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/int64(mult) {
			return 0, fmt.Errorf("too large")
		}
		if n == 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return n * int64(mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	b := math.Floor(f * mult)
	switch {
	case b >= math.MaxInt64:
		return 0, fmt.Errorf("too large")
	case b < 1:
		return 0, fmt.Errorf("must be positive")
	}
	return int64(b), nil
}

// parseCount takes a whole number of at least 1.
func parseCount(text string) (int, error) {
	v, err := strconv.Atoi(text)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("not a whole number of at least 1")
	}
	return v, nil
}

// parseFanout takes a positive number.
func parseFanout(text string) (float64, error) {
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a positive number")
	}
	return v, nil
}

// parsePprofAddr takes a loopback address and port, or "" for off.
func parsePprofAddr(text string) (netip.AddrPort, error) {
	if text == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(text)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("not an address:port")
	}
	if !ap.Addr().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("profiles are served on a loopback address only")
	}
	return ap, nil
}

// parseBool accepts true/false, yes/no, on/off and 1/0, in any case.
func parseBool(text string) (bool, error) {
	switch strings.ToLower(text) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("want true or false")
}

// parseDNSServer takes an IPv4 address and port, or "" for the system's
// resolver.
func parseDNSServer(text string) (netip.AddrPort, error) {
	if text == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(text)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("not an IPv4 address:port")
	}
	return ap, nil
}

// parseLogFormat accepts "text" or "json".
func parseLogFormat(text string) (string, error) {
	switch f := strings.ToLower(text); f {
	case "text", "json":
		return f, nil
	}
	return "", fmt.Errorf("want text or json")
}

// parseLogLevel accepts debug, info, warn (or warning) and error, in any
// case, and slog's offsets such as "debug-2".
func parseLogLevel(text string) (slog.Level, error) {
	if strings.EqualFold(text, "warning") {
		return slog.LevelWarn, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(text)); err != nil {
		return 0, fmt.Errorf("want debug, info, warn or error")
	}
	return l, nil
}
