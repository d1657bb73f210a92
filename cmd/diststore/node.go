package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/diststore/diststore/internal/nodecfg"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// What diststored does when not told otherwise; these equal the defaults
// in cmd/diststored.
const (
	defaultBind     = "{{ GetPrivateIP }}"
	defaultHTTPPort = 8181
)

// Environment variables and config file keys diststored reads, which the
// CLI reads too to find the local node.
const (
	envBind       = "DISTSTORE_BIND"
	envHTTPPort   = "DISTSTORE_HTTP_PORT"
	envConfig     = "DISTSTORE_CONFIG"
	keyBind       = "bind"
	keyHTTPPort   = "http_port"
	configSection = "diststored"
)

// defaultConfigPaths returns the files diststored reads its configuration
// from when not told which, in order: the first that exists is read.
func defaultConfigPaths() []string {
	return []string{"./diststored.cfg", "/usr/local/etc/diststored.cfg", "/etc/diststored.cfg"}
}

// nodeFinder works out which node the CLI talks to.
type nodeFinder struct {
	// lookupEnv reads an environment variable (os.LookupEnv).
	lookupEnv func(name string) (string, bool)
	// configPaths are the config files tried in order, as diststored does.
	configPaths []string
	// expand evaluates a go-sockaddr template (template.Parse).
	expand func(tmpl string) (string, error)
}

// find returns the base URL of the node: flag (the value of --node) if it
// is not "", else $DISTSTORE_NODE if it is not "", else the local node.
func (f nodeFinder) find(flag string) (*url.URL, error) {
	if flag != "" {
		u, err := parseNode(flag)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", flagNode, flag, err)
		}
		return u, nil
	}
	if v, ok := f.lookupEnv(envNode); ok && v != "" {
		u, err := parseNode(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", envNode, v, err)
		}
		return u, nil
	}
	u, err := f.local()
	if err != nil {
		return nil, fmt.Errorf("finding the local node: %w; name a node with --%s or %s", err, flagNode, envNode)
	}
	return u, nil
}

// parseNode parses the text of --node: http://host:port, https://host:port,
// host:port or host; a missing port is 8181, the port every node serves
// on by default.
func parseNode(text string) (*url.URL, error) {
	if !strings.Contains(text, "://") {
		text = "http://" + text
	}
	u, err := url.Parse(text)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	case u.Hostname() == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("user information is not supported")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, errors.New("want only scheme, host and port, no path or query")
	}
	port := u.Port()
	if port == "" {
		port = strconv.Itoa(defaultHTTPPort)
	} else if _, err := nodecfg.ParsePort(port); err != nil {
		return nil, err
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Hostname(), port)}, nil
}

// local returns the URL of the node diststored on this machine serves,
// found as diststored finds its settings: environment, then config file,
// then default.
func (f nodeFinder) local() (*url.URL, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	bind, bindFrom := defaultBind, "default bind"
	if v, ok := cfg.values[keyBind]; ok {
		bind, bindFrom = v, cfg.path+": "+keyBind
	}
	if v, ok := f.lookupEnv(envBind); ok && v != "" {
		bind, bindFrom = v, envBind
	}
	portText, portFrom := strconv.Itoa(defaultHTTPPort), ""
	if v, ok := cfg.values[keyHTTPPort]; ok {
		portText, portFrom = v, cfg.path+": "+keyHTTPPort
	}
	if v, ok := f.lookupEnv(envHTTPPort); ok && v != "" {
		portText, portFrom = v, envHTTPPort
	}

	port, err := nodecfg.ParsePort(portText)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", portFrom, quote(portText), err)
	}
	addr, err := nodecfg.ResolveBind(bind, f.expand)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", bindFrom, quote(bind), err)
	}
	return &url.URL{Scheme: "http", Host: netip.AddrPortFrom(addr, uint16(port)).String()}, nil
}

// quote quotes a setting for a message; a template, which may hold double
// quotes, goes in single quotes so it reads as written.
func quote(s string) string {
	if (strings.Contains(s, `"`) || strings.Contains(s, "{{")) && !strings.Contains(s, "'") && strconv.CanBackquote(s) {
		return "'" + s + "'"
	}
	return strconv.Quote(s)
}

// configFile is the [diststored] section of a config file.
type configFile struct {
	path   string            // the file read, "" if none
	values map[string]string // lower-case key → value
}

// config reads diststored's config file: $DISTSTORE_CONFIG if it is set
// (it must exist), else the first of configPaths that exists. With neither
// it returns an empty configFile. A file that exists but cannot be read is
// an error rather than skipped: the node would then be guessed wrong.
func (f nodeFinder) config() (configFile, error) {
	if p, ok := f.lookupEnv(envConfig); ok && p != "" {
		data, err := nodecfg.ReadFile(p)
		if err != nil {
			return configFile{}, fmt.Errorf("%s: %w", envConfig, err)
		}
		return parseConfig(p, data), nil
	}
	for _, p := range f.configPaths {
		data, err := nodecfg.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return configFile{}, err
		}
		return parseConfig(p, data), nil
	}
	return configFile{}, nil
}

// parseConfig returns the keys of section [diststored] of the INI text
// data: "key = value" or "key: value", keys case-insensitive, whole-line
// comments starting with # or ;, inline comments starting with a # or ;
// that follows whitespace. It is lenient: a line it does not understand is
// skipped, since diststored, which reads the same file, reports it.
func parseConfig(path string, data []byte) configFile {
	cfg := configFile{path: path, values: map[string]string{}}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep <= 0 || section != configSection {
			continue
		}
		key := strings.ToLower(strings.TrimSpace(line[:sep]))
		if _, dup := cfg.values[key]; !dup {
			cfg.values[key] = stripInlineComment(strings.TrimSpace(line[sep+1:]))
		}
	}
	return cfg
}

// stripInlineComment cuts value at the first # or ; that follows
// whitespace, and trims what is left.
func stripInlineComment(value string) string {
	for i := 1; i < len(value); i++ {
		if (value[i] == '#' || value[i] == ';') && (value[i-1] == ' ' || value[i-1] == '\t') {
			return strings.TrimSpace(value[:i])
		}
	}
	return value
}
