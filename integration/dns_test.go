package integration

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a tiny authoritative DNS server over UDP, on a loopback
// address, answering A and SRV questions from its tables; the nodes are
// pointed at it with --dns-server.
type dnsServer struct {
	conn *net.UDPConn
	done chan struct{}

	mu    sync.Mutex // guards the fields below
	a     map[string][]netip.Addr
	srv   map[string][]dnsmessage.SRVResource
	asked map[string]int // questions by name and type, e.g. "seeds.test. A"
}

// startDNS listens on addr (port 0: one the kernel picks) and serves until
// the test ends.
func startDNS(t testing.TB, addr string) *dnsServer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	require.NoError(t, err)
	s := &dnsServer{conn: c, done: make(chan struct{}), a: map[string][]netip.Addr{},
		srv: map[string][]dnsmessage.SRVResource{}, asked: map[string]int{}}
	go s.serve()
	t.Cleanup(func() {
		_ = c.Close()
		<-s.done
	})
	return s
}

func (s *dnsServer) addr() string { return s.conn.LocalAddr().String() }

func (s *dnsServer) setA(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a[name] = nil
	for _, a := range addrs {
		s.a[name] = append(s.a[name], netip.MustParseAddr(a))
	}
}

func (s *dnsServer) setSRV(name, target string, port uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[name] = append(s.srv[name], dnsmessage.SRVResource{Priority: 1, Weight: 1, Port: port,
		Target: dnsmessage.MustNewName(target)})
}

func (s *dnsServer) questions(q string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[q]
}

// serve answers until the connection is closed.
func (s *dnsServer) serve() {
	defer close(s.done)
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if out, err := s.answer(buf[:n]); err == nil {
			_, _ = s.conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// answer builds the response to one query.
func (s *dnsServer) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	s.asked[name+" "+strings.TrimPrefix(q.Type.String(), "Type")]++
	as, srvs := s.a[name], s.srv[name]
	_, knownA := s.a[name]
	_, knownSRV := s.srv[name]
	s.mu.Unlock()

	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !knownA && !knownSRV {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
	switch q.Type {
	case dnsmessage.TypeA:
		for _, a := range as {
			if err := b.AResource(rr, dnsmessage.AResource{A: a.As4()}); err != nil {
				return nil, err
			}
		}
	case dnsmessage.TypeSRV:
		for _, r := range srvs {
			if err := b.SRVResource(rr, r); err != nil {
				return nil, err
			}
		}
	}
	return b.Finish()
}

// TestJoin_DNS: nodes without multicast find each other through names a
// DNS server that the test runs on a loopback address answers: dns:NAME
// (every A record) and srv:NAME (each record's host and port).
func TestJoin_DNS(t *testing.T) {
	dns := startDNS(t, "127.0.3.53:0")
	dns.setA("seeds.test.", nodeAddr(1), nodeAddr(2))
	dns.setSRV("_diststore._udp.test.", "n3.test.", 4984)
	dns.setA("n3.test.", nodeAddr(3))

	c := newCluster(t, 3, withArgs("--multicast=false", "--dns-server", dns.addr()))
	c.node(1).args = append(c.node(1).args, "--join", "srv:_diststore._udp.test")
	c.node(2).args = append(c.node(2).args, "--join", "dns:seeds.test")
	c.node(3).args = append(c.node(3).args, "--join", "dns:seeds.test:4984")
	for _, n := range c.nodes {
		n.start(t)
	}
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	require.NoError(t, pairSynced(c, masters))
	for _, q := range []string{"seeds.test. A", "_diststore._udp.test. SRV", "n3.test. A"} {
		assert.Positive(t, dns.questions(q), "the DNS server was never asked %q", q)
	}

	w := ackedWrite(t, c.node(3), "dns/k", "v")
	for _, n := range c.nodes {
		ob := observe(n, "dns/k", false)
		assert.Equal(t, 200, ob.code, "node %s: %v", n.addr, ob.err)
		assert.Equal(t, w.value, ob.value, "node %s", n.addr)
	}
	t.Logf("DNS questions: seeds.test A %d, SRV %d, n3.test A %d", dns.questions("seeds.test. A"),
		dns.questions("_diststore._udp.test. SRV"), dns.questions("n3.test. A"))
}
