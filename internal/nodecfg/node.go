package nodecfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// FlagNode is the name of the clients' flag that names the node to talk
// to, for messages.
const FlagNode = "node"

// Finder works out which node a client talks to.
type Finder struct {
	// LookupEnv reads an environment variable (os.LookupEnv).
	LookupEnv func(name string) (string, bool)
	// ConfigPaths are the config files tried in order, as diststored does
	// (DefaultPaths).
	ConfigPaths []string
	// Expand evaluates a go-sockaddr template (template.Parse).
	Expand func(tmpl string) (string, error)
}

// Find returns the base URL of the node: flag (the value of --node) if it
// is not "", else $DISTSTORE_NODE if it is not "", else the local node.
func (f Finder) Find(flag string) (*url.URL, error) {
	if flag != "" {
		u, err := ParseNode(flag)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", FlagNode, flag, err)
		}
		return u, nil
	}
	if v, ok := f.LookupEnv(EnvNode); ok && v != "" {
		u, err := ParseNode(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EnvNode, v, err)
		}
		return u, nil
	}
	u, err := f.Local()
	if err != nil {
		return nil, fmt.Errorf("finding the local node: %w; name a node with --%s or %s", err, FlagNode, EnvNode)
	}
	return u, nil
}

// FindAll is Find of a list of nodes: flag (or $DISTSTORE_NODE) may name
// several, separated by commas, each as ParseNode takes it. The local
// node is one.
func (f Finder) FindAll(flag string) ([]*url.URL, error) {
	text, from := flag, "--"+FlagNode
	if text == "" {
		if v, ok := f.LookupEnv(EnvNode); ok && v != "" {
			text, from = v, EnvNode+"="
		}
	}
	if text == "" {
		u, err := f.Find("")
		if err != nil {
			return nil, err
		}
		return []*url.URL{u}, nil
	}
	var out []*url.URL
	for _, part := range strings.Split(text, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		u, err := ParseNode(part)
		if err != nil {
			if from == EnvNode+"=" {
				return nil, fmt.Errorf("%s%q: %w", from, part, err)
			}
			return nil, fmt.Errorf("%s %q: %w", from, part, err)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s %q: no node named", from, text)
	}
	return out, nil
}

// ParseNode parses the name of a node: http://host:port,
// https://host:port, host:port or host; a missing port is DefaultHTTPPort,
// the port every node serves on by default.
func ParseNode(text string) (*url.URL, error) {
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
		port = strconv.Itoa(DefaultHTTPPort)
	} else if _, err := ParsePort(port); err != nil {
		return nil, err
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Hostname(), port)}, nil
}

// Local returns the URL of the node diststored on this machine serves,
// found as diststored finds its settings: environment, then config file,
// then default.
func (f Finder) Local() (*url.URL, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	bind, bindFrom := DefaultBind, "default bind"
	if v, ok := cfg.Values[KeyBind]; ok {
		bind, bindFrom = v.Text, cfg.Path+": "+KeyBind
	}
	if v, ok := f.LookupEnv(EnvBind); ok && v != "" {
		bind, bindFrom = v, EnvBind
	}
	portText, portFrom := strconv.Itoa(DefaultHTTPPort), ""
	if v, ok := cfg.Values[KeyHTTPPort]; ok {
		portText, portFrom = v.Text, cfg.Path+": "+KeyHTTPPort
	}
	if v, ok := f.LookupEnv(EnvHTTPPort); ok && v != "" {
		portText, portFrom = v, EnvHTTPPort
	}

	port, err := ParsePort(portText)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", portFrom, quote(portText), err)
	}
	addr, err := ResolveBind(bind, f.Expand)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", bindFrom, quote(bind), err)
	}
	return &url.URL{Scheme: "http", Host: netip.AddrPortFrom(addr, uint16(port)).String()}, nil
}

// config reads diststored's config file: $DISTSTORE_CONFIG if it is set
// (it must exist), else the first of ConfigPaths that exists. With neither
// it returns an empty File. It is lenient about the file's contents: a
// line Parse does not take is skipped, since diststored, which reads the
// same file, reports it.
func (f Finder) config() (File, error) {
	explicit, _ := f.LookupEnv(EnvConfig)
	path, data, err := Open(explicit, f.ConfigPaths)
	if err != nil {
		if explicit != "" {
			return File{}, fmt.Errorf("%s: %w", EnvConfig, err)
		}
		return File{}, err
	}
	file, _ := Parse(path, data, nil) // lenient: see above
	return file, nil
}

// quote quotes a setting for a message; a template, which may hold double
// quotes, goes in single quotes so it reads as written.
func quote(s string) string {
	if (strings.Contains(s, `"`) || strings.Contains(s, "{{")) && !strings.Contains(s, "'") && strconv.CanBackquote(s) {
		return "'" + s + "'"
	}
	return strconv.Quote(s)
}
