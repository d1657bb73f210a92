package integration

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// An emulation of a node of the original pydiststore (santeri/pydiststore,
// Python 2, 2009; diststore/diststore.py at its last commit), for the
// tests of a group shared with it. It does what that code does, bugs
// included, as far as another node or a client can tell:
//
//   - Multicast listener (one thread): it reads one datagram at a time and
//     goes by its prefix. "keycount <ip> <port>": it answers "keycount
//     <self> <count>" to ip:port. "whohas <key> <ip> <port>": if it holds
//     key (compared as the raw text, as stored), it answers "gotkey <key>
//     <self>" to ip:port; otherwise it stays silent. "masterlost <who>
//     <master>": it starts a sync thread (below) unless one is running.
//     Anything else is ignored. A wrong number of fields or a port that is
//     not a number is logged ("invalid message"); an address that does not
//     resolve or a port out of range raised an uncaught exception in the
//     original, which ended the listener thread: here too (listenerDead).
//   - Every datagram it sends goes from a fresh socket (an ephemeral port);
//     answers to its own queries arrive on another socket, the one whose
//     port the query names.
//   - GET: a path containing "list" lists every key, one per line; a path
//     without "get" is a 404; otherwise the path must be /<cmd>/<key>
//     (exactly two slashes: anything else raised, and the connection was
//     dropped with no answer). A held key is served. "getlocal" of a key
//     not held is a 404. Otherwise it multicasts whohas and takes the
//     first datagram that arrives within multicast_timeout (1 s): none is
//     a 404; one starting with "gotkey" makes it fetch GET /get/<key> from
//     the address the answer names, keep the value and serve it; any other
//     datagram is "received invalid response" and the handler returns
//     without a word: the client's connection is closed with no HTTP
//     answer (dropped counts those).
//   - POST: the key is the path's last segment, as sent (a key sent
//     escaped stays escaped); the body (Content-Length bytes) is stored.
//     A path containing "local" ends there (200, no body). Otherwise, if
//     it knows no masters it elects them (keycount to the group, answers
//     collected until none comes for multicast_timeout, the two with most
//     keys, ties by address compared as text) and sends POST /local/<key>
//     to each master that is not itself. A master it cannot connect to is
//     reported with a multicast "masterlost <self> <master>"; one that
//     answers another status than 200 hit an undefined name in the
//     original (print_error) and dropped the client's connection. Then 200
//     "post ok, data sent to [...]".
//   - Sync thread (on masterlost): elect masters again; if it was a master
//     before, stop; if it is one now, GET /list from the other master and
//     GET /getlocal/<key> of every key it lacks.
//   - HTTP/1.0 answers: a status line, Server and Date headers, then the
//     body until the connection closes; one request per connection.
//
// What it leaves out: the listen backlog of 5, the port range 50000-51000
// of its answer sockets (it takes ephemeral ports), and httplib2's lack of
// timeouts (its own requests here give up after 10 s, so that a test ends).
type origNode struct {
	t       testing.TB
	addr    string
	timeout time.Duration // multicast_timeout

	ln    net.Listener
	group *net.UDPConn
	lo    *net.Interface
	http  *http.Client // httplib2: no keep-alive, from its own address

	mu      sync.Mutex // guards the fields below
	ds      map[string][]byte
	masters []origServer // at most two
	syncing bool         // a sync thread is alive
	conns   map[net.Conn]bool
	stopped bool

	dropped      atomic.Int64 // client connections closed without an answer
	invalid      atomic.Int64 // "received invalid response" after a whohas
	badMessages  atomic.Int64 // "invalid message" in the multicast listener
	listenerDead atomic.Bool  // the multicast listener thread ended on an exception
	wg           sync.WaitGroup
}

// origServer is one (count, ip) pair of the original's node list.
type origServer struct {
	count int
	ip    string
}

// origStringer renders a node list as Python's repr of a list of tuples.
func origRepr(ss []origServer) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("(%d, '%s')", s.count, s.ip)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// origAddr is the address of original node i (1-based): 127.0.2.(20+i),
// apart from the diststored nodes' 127.0.2.1-10.
func origAddr(i int) string { return fmt.Sprintf("127.0.2.%d", 20+i) }

// startOriginal starts an emulated original node on addr; the test's
// cleanup stops it.
func startOriginal(t testing.TB, addr string) *origNode {
	t.Helper()
	lo, err := loopbackInterface()
	if err != nil {
		t.Fatal(err)
	}
	o := &origNode{
		t: t, addr: addr, timeout: time.Second, lo: lo,
		ds: map[string][]byte{}, conns: map[net.Conn]bool{},
	}
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}}
	o.http = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, DisableKeepAlives: true},
	}
	o.ln, err = net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(httpPort)))
	if err != nil {
		t.Fatalf("original %s: %v", addr, err)
	}
	// Like every node on the host, it gets every datagram sent to the
	// group's port.
	o.group, err = net.ListenMulticastUDP("udp4", lo, group)
	if err != nil {
		o.ln.Close()
		t.Fatalf("original %s: joining %s: %v", addr, group, err)
	}
	o.wg.Add(2)
	go o.serveHTTP()
	go o.listen()
	t.Cleanup(o.stop)
	return o
}

// stop ends the node as a kill would: its sockets close, connections in
// flight are cut, and its data is gone.
func (o *origNode) stop() {
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		return
	}
	o.stopped = true
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.ln.Close()
	o.group.Close()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		o.t.Errorf("original %s: goroutines still running 15s after stop", o.addr)
	}
}

// put stores a key as the original's datastore does, raw.
func (o *origNode) put(k string, v []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ds[k] = bytes.Clone(v)
}

func (o *origNode) get(k string) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.ds[k]
	return v, ok
}

func (o *origNode) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ds)
}

func (o *origNode) keys() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ks := make([]string, 0, len(o.ds))
	for k := range o.ds {
		ks = append(ks, k)
	}
	return ks
}

// masterIPs returns the addresses of the masters it holds.
func (o *origNode) masterIPs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ips []string
	for _, m := range o.masters {
		ips = append(ips, m.ip)
	}
	return ips
}

// udpSocket is the original's udpsocket(): a fresh socket, here bound to
// the node's address so that its datagrams come from it, with multicast
// leaving on lo.
func (o *origNode) udpSocket() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(o.addr)})
	if err != nil {
		return nil, err
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetMulticastInterface(o.lo); err != nil {
		c.Close()
		return nil, err
	}
	_ = pc.SetMulticastLoopback(true)
	_ = pc.SetMulticastTTL(1)
	return c, nil
}

// sendTo sends one datagram from a fresh socket.
func (o *origNode) sendTo(to *net.UDPAddr, msg string) error {
	s, err := o.udpSocket()
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.WriteToUDP([]byte(msg), to)
	return err
}

// pyInt parses a decimal as Python's int() does for these tokens.
func pyInt(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// listen is the multicast listener thread.
func (o *origNode) listen() {
	defer o.wg.Done()
	buf := make([]byte, 1024)
	for {
		n, _, err := o.group.ReadFromUDP(buf)
		if err != nil {
			return // closed by stop
		}
		if !o.handleDatagram(string(buf[:n])) {
			o.listenerDead.Store(true)
			return
		}
	}
}

// answerAddr resolves ip and port as the original's sendto did; ok false
// is the uncaught exception that ended its listener.
func answerAddr(ip string, port int) (*net.UDPAddr, bool) {
	a := net.ParseIP(ip)
	if a == nil || a.To4() == nil || port < 0 || port > 65535 {
		return nil, false
	}
	return &net.UDPAddr{IP: a, Port: port}, true
}

// handleDatagram handles one multicast datagram; false means the listener
// thread died on it.
func (o *origNode) handleDatagram(msg string) bool {
	f := strings.Fields(msg)
	switch {
	case strings.HasPrefix(msg, "keycount"):
		if len(f) != 3 {
			o.badMessages.Add(1)
			return true
		}
		port, ok := pyInt(f[2])
		if !ok {
			o.badMessages.Add(1)
			return true
		}
		to, ok := answerAddr(f[1], port)
		if !ok {
			return false
		}
		_ = o.sendTo(to, fmt.Sprintf("keycount %s %d", o.addr, o.count()))
	case strings.HasPrefix(msg, "whohas"):
		if len(f) != 4 {
			o.badMessages.Add(1)
			return true
		}
		if _, has := o.get(f[1]); has {
			port, ok := pyInt(f[3])
			if !ok {
				o.badMessages.Add(1)
				return true
			}
			to, ok := answerAddr(f[2], port)
			if !ok {
				return false
			}
			_ = o.sendTo(to, fmt.Sprintf("gotkey %s %s", f[1], o.addr))
		}
	case strings.HasPrefix(msg, "masterlost"):
		if len(f) != 3 {
			o.badMessages.Add(1)
			return true
		}
		o.mu.Lock()
		start := !o.syncing && !o.stopped
		if start {
			o.syncing = true
			o.wg.Add(1)
		}
		o.mu.Unlock()
		if start {
			go o.syncThread()
		}
	}
	return true
}

// multicast sends msg to the group from a fresh socket.
func (o *origNode) multicast(msg string) error { return o.sendTo(group, msg) }

// answerSocket is the original's Portmanager socket: where answers to one
// query arrive.
func (o *origNode) answerSocket() (*net.UDPConn, int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(o.addr)})
	if err != nil {
		return nil, 0, err
	}
	return c, c.LocalAddr().(*net.UDPAddr).Port, nil
}

// requestKey multicasts whohas and returns the first datagram that
// arrives within the timeout, or "", false.
func (o *origNode) requestKey(key string) (string, bool) {
	rs, port, err := o.answerSocket()
	if err != nil {
		return "", false
	}
	defer rs.Close()
	if err := o.multicast(fmt.Sprintf("whohas %s %s %d", key, o.addr, port)); err != nil {
		return "", false
	}
	_ = rs.SetReadDeadline(time.Now().Add(o.timeout))
	buf := make([]byte, 1024)
	n, _, err := rs.ReadFromUDP(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

// errOrigRaised is an exception the original did not catch.
var errOrigRaised = errors.New("uncaught exception")

// requestKeycount multicasts keycount and collects answers until none
// arrives for the timeout; the list is sorted by count, most first, then
// by address compared as text. An answer that is not three fields with a
// number last raised (print_error is undefined in the original).
func (o *origNode) requestKeycount() ([]origServer, error) {
	rs, port, err := o.answerSocket()
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	if err := o.multicast(fmt.Sprintf("keycount %s %d", o.addr, port)); err != nil {
		return nil, err
	}
	var servers []origServer
	buf := make([]byte, 1024)
	for {
		_ = rs.SetReadDeadline(time.Now().Add(o.timeout))
		n, _, err := rs.ReadFromUDP(buf)
		if err != nil {
			break
		}
		f := strings.Fields(string(buf[:n]))
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: keycount answer %q", errOrigRaised, buf[:n])
		}
		c, ok := pyInt(f[2])
		if !ok {
			return nil, fmt.Errorf("%w: keycount answer %q", errOrigRaised, buf[:n])
		}
		servers = append(servers, origServer{count: c, ip: f[1]})
	}
	slices.SortStableFunc(servers, func(a, b origServer) int {
		if a.count != b.count {
			return b.count - a.count
		}
		return strings.Compare(a.ip, b.ip)
	})
	return servers, nil
}

// updateMasters elects masters: the first two of the keycount list.
func (o *origNode) updateMasters() error {
	servers, err := o.requestKeycount()
	if err != nil {
		return err
	}
	if len(servers) > 0 {
		o.mu.Lock()
		o.masters = slices.Clone(servers[:min(2, len(servers))])
		o.mu.Unlock()
	}
	return nil
}

// syncThread is the original's SyncThread, started by masterlost.
func (o *origNode) syncThread() {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		o.syncing = false
		o.mu.Unlock()
	}()
	old := o.masterIPs()
	if err := o.updateMasters(); err != nil {
		return
	}
	now := o.masterIPs()
	if slices.Contains(old, o.addr) || !slices.Contains(now, o.addr) {
		return
	}
	others := slices.DeleteFunc(slices.Clone(now), func(s string) bool { return s == o.addr })
	if len(others) == 0 {
		return // IndexError
	}
	body, code, err := o.fetch(others[0], "/list")
	if err != nil || code != 200 {
		return
	}
	for _, k := range strings.Fields(string(body)) {
		if _, has := o.get(k); has {
			continue
		}
		v, code, err := o.fetch(others[0], "/getlocal/"+k)
		if err != nil {
			return
		}
		if code == 200 {
			o.put(k, v)
		}
	}
}

// fetch is an httplib2 GET of path, as the original sends it, from host.
func (o *origNode) fetch(host, path string) ([]byte, int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(host, strconv.Itoa(httpPort))+"/", nil)
	if err != nil {
		return nil, 0, err
	}
	req.URL.Opaque = path // the path as is, never re-escaped
	resp, err := o.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return b, resp.StatusCode, err
}

// post is an httplib2 POST of body to path on host.
func (o *origNode) post(host, path string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+net.JoinHostPort(host, strconv.Itoa(httpPort))+"/", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.URL.Opaque = path
	resp, err := o.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// serveHTTP is the threading HTTP server: one goroutine per connection.
func (o *origNode) serveHTTP() {
	defer o.wg.Done()
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.mu.Lock()
		if o.stopped {
			o.mu.Unlock()
			c.Close()
			return
		}
		o.conns[c] = true
		o.wg.Add(1)
		o.mu.Unlock()
		go func() {
			defer o.wg.Done()
			o.serveConn(c)
			o.mu.Lock()
			delete(o.conns, c)
			o.mu.Unlock()
			c.Close()
		}()
	}
}

// origResponse is what a handler writes: BaseHTTPRequestHandler's
// send_response, send_error and wfile.write, in order.
type origResponse struct {
	w     *bufio.Writer
	wrote bool
}

func (r *origResponse) sendResponse(code int) {
	r.wrote = true
	fmt.Fprintf(r.w, "HTTP/1.0 %d %s\r\nServer: BaseHTTP/0.3 Python/2.7.18\r\nDate: %s\r\n",
		code, http.StatusText(code), time.Now().UTC().Format(http.TimeFormat))
}

func (r *origResponse) endHeaders() { r.w.WriteString("\r\n") }

func (r *origResponse) write(b []byte) { r.wrote = true; r.w.Write(b) }

func (r *origResponse) sendError(code int) {
	r.sendResponse(code)
	r.w.WriteString("Content-Type: text/html\r\nConnection: close\r\n\r\n")
	fmt.Fprintf(r.w, "<head>\n<title>Error response</title>\n</head>\n<body>\n<h1>Error response</h1>\n"+
		"<p>Error code %d.\n<p>Message: %s.\n<p>Error code explanation: %d = %s.\n</body>\n",
		code, http.StatusText(code), code, http.StatusText(code))
}

// serveConn reads one request and answers it, HTTP/1.0 style.
func (o *origNode) serveConn(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewReader(bufio.NewReaderSize(c, 64<<10))
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	parts := strings.Fields(line)
	if len(parts) != 3 {
		return
	}
	method, path := parts[0], parts[1]
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return
	}
	w := &origResponse{w: bufio.NewWriter(c)}
	var raised bool
	switch method {
	case http.MethodGet:
		raised = o.doGET(w, path)
	case http.MethodPost:
		raised = o.doPOST(w, path, hdr, tp.R)
	default:
		w.sendError(http.StatusNotImplemented)
	}
	if raised || !w.wrote {
		o.dropped.Add(1)
		if !w.wrote {
			return // the connection closes with no answer
		}
	}
	_ = w.w.Flush()
}

// doGET is the original's do_GET; true means it raised.
func (o *origNode) doGET(w *origResponse, path string) bool {
	if strings.Contains(path, "list") {
		w.sendResponse(200)
		w.endHeaders()
		for _, k := range o.keys() {
			w.write([]byte(k + "\n"))
		}
		return false
	}
	if !strings.Contains(path, "get") {
		w.sendError(404)
		return false
	}
	seg := strings.Split(path, "/")
	if len(seg) != 3 {
		return true // ValueError: too many values to unpack
	}
	cmd, key := seg[1], seg[2]
	if v, ok := o.get(key); ok {
		w.sendResponse(200)
		w.endHeaders()
		w.write(v)
		return false
	}
	if cmd == "getlocal" {
		w.sendError(404)
		return false
	}
	resp, ok := o.requestKey(key)
	if !ok {
		w.sendError(404)
		return false
	}
	if !strings.HasPrefix(resp, "gotkey") {
		o.invalid.Add(1) // "received invalid response": no answer at all
		return false
	}
	f := strings.Fields(resp)
	if len(f) != 3 {
		return true
	}
	if f[1] != key {
		w.sendError(500) // and goes on, as the original did
	}
	content, code, err := o.fetch(f[2], "/get/"+key)
	if err != nil {
		return true // socket error from httplib2
	}
	if code != 200 {
		w.sendError(code) // and goes on
	}
	o.put(key, content)
	w.sendResponse(200)
	w.endHeaders()
	w.write(content)
	return false
}

// doPOST is the original's do_POST; true means it raised.
func (o *origNode) doPOST(w *origResponse, path string, hdr textproto.MIMEHeader, body *bufio.Reader) bool {
	n := -1
	if cl := hdr.Get("Content-Length"); cl != "" {
		var ok bool
		if n, ok = pyInt(cl); !ok {
			return true
		}
	}
	var v []byte
	var err error
	if n < 0 {
		v, err = io.ReadAll(io.LimitReader(body, 64<<20))
	} else {
		v = make([]byte, n)
		_, err = io.ReadFull(body, v)
	}
	if err != nil {
		return true
	}
	seg := strings.Split(path, "/")
	k := seg[len(seg)-1]
	if k == "" {
		w.sendError(400)
		return false
	}
	o.put(k, v)
	if strings.Contains(path, "local") {
		w.sendResponse(200)
		w.endHeaders()
		return false
	}
	o.mu.Lock()
	none := len(o.masters) == 0
	o.mu.Unlock()
	if none {
		if err := o.updateMasters(); err != nil {
			return true
		}
	}
	o.mu.Lock()
	masters := slices.Clone(o.masters)
	o.mu.Unlock()
	for _, m := range masters {
		if m.ip == o.addr {
			continue
		}
		code, err := o.post(m.ip, "/local/"+k, v)
		if err != nil {
			_ = o.multicast(fmt.Sprintf("masterlost %s %s", o.addr, m.ip))
			continue
		}
		if code != 200 {
			return true // print_error: NameError
		}
	}
	w.sendResponse(200)
	w.endHeaders()
	w.write(fmt.Appendf(nil, "post ok, data sent to %s\n", origRepr(masters)))
	w.write(fmt.Appendf(nil, "key: %s\nvalue:%s\n", k, v))
	return false
}

// origDo sends one request to an original node and reads the answer. A
// connection closed with no answer is an error.
func origDo(o *origNode, method, path string, body []byte) (*reply, error) {
	req, err := http.NewRequest(method, "http://"+net.JoinHostPort(o.addr, strconv.Itoa(httpPort))+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.URL.Opaque = path
	start := time.Now()
	resp, err := origClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("original %s: %s %s: %w", o.addr, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("original %s: %s %s: reading body: %w", o.addr, method, path, err)
	}
	return &reply{code: resp.StatusCode, body: string(b), header: resp.Header, dur: time.Since(start)}, nil
}

// origClient talks to original nodes: one connection per request, as
// they answer HTTP/1.0.
var origClient = &http.Client{
	Timeout:   requestTimeout,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, ResponseHeaderTimeout: requestTimeout},
}
