package nodecfg

// What diststored does when not told otherwise. The ports and the group
// are the original pydiststore's; package cluster, which commands configure
// and which never imports this package, has the same values as
// cluster.DefaultHTTPPort, cluster.DefaultMulticastPort and
// cluster.DefaultGroup for callers that leave its Config empty (a test in
// cmd/diststored keeps them equal).
const (
	// DefaultBind is the node's address: a go-sockaddr template.
	DefaultBind = "{{ GetPrivateIP }}"
	// DefaultHTTPPort is the HTTP port every node of a cluster serves on.
	DefaultHTTPPort = 8181
	// DefaultMulticastAddr is the multicast group nodes meet on:
	// administratively scoped (RFC 2365).
	DefaultMulticastAddr = "239.255.41.83"
	// DefaultMulticastPort is the group's UDP port.
	DefaultMulticastPort = 4983
	// DefaultUnicastPort is the UDP port on the node's own address where
	// answers to its queries (gotkey, nokey, keycount) arrive. It is fixed,
	// not ephemeral, so that a firewall can allow it.
	DefaultUnicastPort = 4984
)

// Section is the INI section of diststored.cfg that diststored reads, as
// the original did; other sections are ignored, so one file can configure
// several programs.
const Section = "diststored"

// Keys of Section that the client reads too, to find the local node.
const (
	KeyBind     = "bind"
	KeyHTTPPort = "http_port"
)

// Environment variables. diststored reads DISTSTORE_<FLAG> for each of its
// flags; the client reads these to find the local node, and EnvNode to be
// told which node to talk to.
const (
	EnvConfig   = "DISTSTORE_CONFIG"
	EnvBind     = "DISTSTORE_BIND"
	EnvHTTPPort = "DISTSTORE_HTTP_PORT"
	EnvNode     = "DISTSTORE_NODE"
)

// DefaultPaths returns the files diststored reads its configuration from
// when not told which, in order: the first that exists is read.
func DefaultPaths() []string {
	return []string{"./diststored.cfg", "/usr/local/etc/diststored.cfg", "/etc/diststored.cfg"}
}
