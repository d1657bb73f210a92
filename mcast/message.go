package mcast

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDatagram is the longest datagram, in bytes, that is decoded or sent.
// Longer datagrams are dropped (reason DropOversize) before decoding.
const MaxDatagram = 1024

// MaxKeyLen is the longest key token, in bytes, a message may carry: a
// key of the store's 250 bytes in its wire form, every byte escaped as
// %XX (store.WireKey). The codec carries the token as it is; the node
// escapes and unescapes keys.
const MaxKeyLen = 750

// Errors returned by Encode and Decode, checked with errors.Is.
var (
	// ErrTooLarge: the datagram is longer than MaxDatagram.
	ErrTooLarge = errors.New("mcast: datagram too large")
	// ErrMalformed: the kind is known but its fields are not valid (wrong
	// count, bad IP, bad number, bad key).
	ErrMalformed = errors.New("mcast: malformed message")
	// ErrUnknownKind: the first token is not a known kind, or a versioned
	// kind carries a version this node does not speak.
	ErrUnknownKind = errors.New("mcast: unknown message kind")
	// ErrNoGroup: the transport has no group (UDPConfig.NoGroup,
	// MemNetwork.JoinNoGroup), so it cannot multicast.
	ErrNoGroup = errors.New("mcast: multicast is off")
)

// Kind identifies a message type. Values are part of the protocol: see the
// wire table in the package documentation. ONLY APPEND.
type Kind uint8

// Message kinds. ONLY APPEND TO THIS LIST.
const (
	WhoHas     Kind = 1 // "whohas <key> <ip> <port>", to the group
	GotKey     Kind = 2 // "gotkey <key> <ip>", unicast answer to whohas
	KeyCount   Kind = 3 // "keycount <ip> <n>": n is a reply port (to the group) or a key count (unicast answer)
	MasterLost Kind = 4 // "masterlost <who> <master>", to the group
	Heartbeat  Kind = 5 // "hb 1 <ip> <keys> <epoch> <m1|-> <m2|-> <flags>", to the group
	NoKey      Kind = 6 // "nokey 1 <key> <ip> <epoch>", unicast answer from a master
	Bye        Kind = 7 // "bye 1 <ip>", to the group
	Invalidate Kind = 8 // "inval 1 <key> <ip> <clock hex>-<node hex> <flags>", to the group
	Members    Kind = 9 // "members 1 <ip> <ip:port>...", unicast: nodes the sender knows, 1–MaxListed
)

// MaxListed is how many addresses one Members message carries at most.
const MaxListed = 32

// kindInfo is the static description of one kind's wire form.
type kindInfo struct {
	token     string // first token on the wire
	versioned bool   // a version token follows the kind token
	fields    int    // tokens after the kind (and version) token; for a variadic kind the fixed ones
	variadic  int    // at most this many more tokens, at least one
}

// kinds is indexed by Kind; it is never written after initialisation.
var kinds = [...]kindInfo{
	WhoHas:     {token: "whohas", fields: 3},
	GotKey:     {token: "gotkey", fields: 2},
	KeyCount:   {token: "keycount", fields: 2},
	MasterLost: {token: "masterlost", fields: 2},
	Heartbeat:  {token: "hb", versioned: true, fields: 6},
	NoKey:      {token: "nokey", versioned: true, fields: 3},
	Bye:        {token: "bye", versioned: true, fields: 1},
	Invalidate: {token: "inval", versioned: true, fields: 4},
	Members:    {token: "members", versioned: true, fields: 1, variadic: MaxListed},
}

// version is the only version token this package speaks for versioned kinds.
const version = "1"

func (k Kind) valid() bool { return k > 0 && int(k) < len(kinds) }

// String returns the kind's wire token ("whohas", "hb", ...), or "Kind(n)"
// for an unknown kind.
func (k Kind) String() string {
	if !k.valid() {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kinds[k].token
}

// kindByToken maps a wire token to its Kind.
func kindByToken(tok string) (Kind, bool) {
	for k := Kind(1); k.valid(); k++ {
		if kinds[k].token == tok {
			return k, true
		}
	}
	return 0, false
}

// Flags are the bits of a heartbeat's flags field.
type Flags uint8

// Heartbeat flags. ONLY APPEND.
const (
	FlagSynced   Flags = 1 << iota // a master that holds every key (finished its sync)
	FlagLeaving                    // the node is shutting down
	FlagDeleted                    // Invalidate: the key was deleted at Version
	FlagMigrated                   // a synced master holding every key of every original node it knows
	// FlagLocalKeys: the node holds values stored with POST /local/<key>
	// that a master may lack (a master: that the other may lack), so
	// only a whohas, or every master's word, finds them.
	FlagLocalKeys
	// FlagTellsLocal: the node sets FlagLocalKeys whenever it holds such
	// keys. Releases before it do not, and never set this flag either: a
	// node without it may hold such keys whatever its flags say.
	FlagTellsLocal
)

// Message is one decoded datagram. Which fields are meaningful depends on
// Kind; Encode ignores the others and Decode leaves them zero.
type Message struct {
	Kind    Kind
	Key     string           // WhoHas, GotKey, NoKey, Invalidate: the key's wire token
	Addr    netip.Addr       // the <ip> field; for MasterLost the <who> field
	Port    uint16           // WhoHas: where to answer
	N       uint64           // KeyCount: port or count; Heartbeat: key count
	Master  netip.Addr       // MasterLost: the master that was lost
	Epoch   uint64           // Heartbeat, NoKey
	Masters []netip.Addr     // Heartbeat: 0, 1 or 2 masters ("-" on the wire for absent)
	Flags   Flags            // Heartbeat, Invalidate
	Version Stamp            // Invalidate: the key's new version
	Listed  []netip.AddrPort // Members: 1–MaxListed unicast addresses the sender knows
}

// Stamp is a value's version as the wire carries it: "<clock>-<node>" in
// hex, the form of the store's versions.
type Stamp struct {
	Clock uint64
	Node  uint32
}

func (s Stamp) token() string {
	return strconv.FormatUint(s.Clock, 16) + "-" + strconv.FormatUint(uint64(s.Node), 16)
}

func parseStamp(tok string) (Stamp, error) {
	c, n, ok := strings.Cut(tok, "-")
	if ok {
		clock, err1 := strconv.ParseUint(c, 16, 64)
		node, err2 := strconv.ParseUint(n, 16, 32)
		if err1 == nil && err2 == nil {
			return Stamp{Clock: clock, Node: uint32(node)}, nil
		}
	}
	return Stamp{}, fmt.Errorf("version %.30q is not <clock hex>-<node hex>", tok)
}

// Encode returns the wire form of m, without a trailing newline. It
// validates m first: an unknown Kind is ErrUnknownKind, an invalid field (a
// bad key, a non-IPv4 address, port 0, more than two masters) or a result
// longer than MaxDatagram is ErrMalformed.
func (m Message) Encode() ([]byte, error) {
	if !m.Kind.valid() {
		return nil, fmt.Errorf("encode %v: %w", m.Kind, ErrUnknownKind)
	}
	info := kinds[m.Kind]
	tokens := make([]string, 0, 2+info.fields)
	tokens = append(tokens, info.token)
	if info.versioned {
		tokens = append(tokens, version)
	}

	var err error
	// add appends the encoding of one field, remembering the first error.
	add := func(tok string, e error) {
		if err == nil {
			err = e
		}
		tokens = append(tokens, tok)
	}
	switch m.Kind {
	case WhoHas:
		add(m.Key, checkKey(m.Key))
		add(ipToken("addr", m.Addr))
		add(strconv.FormatUint(uint64(m.Port), 10), checkPort(m.Port))
	case GotKey:
		add(m.Key, checkKey(m.Key))
		add(ipToken("addr", m.Addr))
	case KeyCount:
		add(ipToken("addr", m.Addr))
		add(strconv.FormatUint(m.N, 10), nil)
	case MasterLost:
		add(ipToken("who", m.Addr))
		add(ipToken("master", m.Master))
	case Heartbeat:
		add(ipToken("addr", m.Addr))
		add(strconv.FormatUint(m.N, 10), nil)
		add(strconv.FormatUint(m.Epoch, 10), nil)
		if len(m.Masters) > 2 {
			add("", fmt.Errorf("%d masters, at most 2", len(m.Masters)))
		}
		for i := range 2 {
			if i < len(m.Masters) {
				add(ipToken("master", m.Masters[i]))
			} else {
				add("-", nil)
			}
		}
		add(strconv.FormatUint(uint64(m.Flags), 16), nil)
	case NoKey:
		add(m.Key, checkKey(m.Key))
		add(ipToken("addr", m.Addr))
		add(strconv.FormatUint(m.Epoch, 10), nil)
	case Bye:
		add(ipToken("addr", m.Addr))
	case Invalidate:
		add(m.Key, checkKey(m.Key))
		add(ipToken("addr", m.Addr))
		add(m.Version.token(), nil)
		add(strconv.FormatUint(uint64(m.Flags), 16), nil)
	case Members:
		add(ipToken("addr", m.Addr))
		if len(m.Listed) == 0 || len(m.Listed) > MaxListed {
			add("", fmt.Errorf("%d addresses listed, want 1-%d", len(m.Listed), MaxListed))
		}
		for _, a := range m.Listed {
			add(addrPortToken(a))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w: %w", m.Kind, ErrMalformed, err)
	}
	b := []byte(strings.Join(tokens, " "))
	if len(b) > MaxDatagram {
		return nil, fmt.Errorf("encode %v: %w: %d bytes, limit %d", m.Kind, ErrMalformed, len(b), MaxDatagram)
	}
	return b, nil
}

// Decode parses one datagram. It is pure and never panics. A datagram
// longer than MaxDatagram is ErrTooLarge, one whose first token is not a
// known kind (or whose version is not "1") is ErrUnknownKind, and any other
// deviation from the wire table is ErrMalformed.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxDatagram {
		return Message{}, fmt.Errorf("decode: %w: %d bytes, limit %d", ErrTooLarge, len(b), MaxDatagram)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	// The kind first, before the datagram is split: a datagram of an
	// unknown kind costs no allocation but its error.
	first, rest, _ := strings.Cut(s, " ")
	kind, ok := kindByToken(first)
	if !ok {
		return Message{}, fmt.Errorf("decode %.20q: %w", first, ErrUnknownKind)
	}
	info := kinds[kind]
	// At most the fields of the kind and its version, plus one to tell
	// that there are too many.
	tokens := strings.SplitN(rest, " ", info.fields+info.variadic+2)
	if rest == "" {
		tokens = nil
	}
	if info.versioned {
		if len(tokens) == 0 {
			return Message{}, fmt.Errorf("decode %v: %w: no version", kind, ErrMalformed)
		}
		if tokens[0] != version {
			return Message{}, fmt.Errorf("decode %v: %w: version %.20q", kind, ErrUnknownKind, tokens[0])
		}
		tokens = tokens[1:]
	}
	if info.variadic > 0 {
		if len(tokens) < info.fields+1 || len(tokens) > info.fields+info.variadic {
			return Message{}, fmt.Errorf("decode %v: %w: %d fields, want %d-%d", kind, ErrMalformed, len(tokens),
				info.fields+1, info.fields+info.variadic)
		}
	} else if len(tokens) != info.fields {
		return Message{}, fmt.Errorf("decode %v: %w: %d fields, want %d", kind, ErrMalformed, len(tokens), info.fields)
	}

	m := Message{Kind: kind}
	var err error
	// Each parse helper records only the first error.
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	ip := func(name, tok string) netip.Addr { a, e := parseIP(name, tok); keep(e); return a }
	num := func(name, tok string) uint64 { n, e := parseUint(name, tok, 10, 64); keep(e); return n }
	key := func(tok string) string { keep(checkKey(tok)); return tok }

	switch kind {
	case WhoHas:
		m.Key = key(tokens[0])
		m.Addr = ip("addr", tokens[1])
		p, e := parseUint("port", tokens[2], 10, 16)
		keep(e)
		m.Port = uint16(p)
		if e == nil {
			keep(checkPort(m.Port))
		}
	case GotKey:
		m.Key = key(tokens[0])
		m.Addr = ip("addr", tokens[1])
	case KeyCount:
		m.Addr = ip("addr", tokens[0])
		m.N = num("n", tokens[1])
	case MasterLost:
		m.Addr = ip("who", tokens[0])
		m.Master = ip("master", tokens[1])
	case Heartbeat:
		m.Addr = ip("addr", tokens[0])
		m.N = num("keys", tokens[1])
		m.Epoch = num("epoch", tokens[2])
		m1, m2 := tokens[3], tokens[4]
		switch {
		case m1 == "-" && m2 != "-":
			keep(errors.New("second master without a first"))
		case m1 != "-":
			m.Masters = append(m.Masters, ip("master", m1))
			if m2 != "-" {
				m.Masters = append(m.Masters, ip("master", m2))
			}
		}
		f, e := parseUint("flags", tokens[5], 16, 8)
		keep(e)
		m.Flags = Flags(f)
	case NoKey:
		m.Key = key(tokens[0])
		m.Addr = ip("addr", tokens[1])
		m.Epoch = num("epoch", tokens[2])
	case Bye:
		m.Addr = ip("addr", tokens[0])
	case Invalidate:
		m.Key = key(tokens[0])
		m.Addr = ip("addr", tokens[1])
		v, e := parseStamp(tokens[2])
		keep(e)
		m.Version = v
		f, e := parseUint("flags", tokens[3], 16, 8)
		keep(e)
		m.Flags = Flags(f)
	case Members:
		m.Addr = ip("addr", tokens[0])
		m.Listed = make([]netip.AddrPort, 0, len(tokens)-1)
		for _, tok := range tokens[1:] {
			a, e := parseAddrPort(tok)
			keep(e)
			m.Listed = append(m.Listed, a)
		}
	}
	if err != nil {
		return Message{}, fmt.Errorf("decode %v: %w: %w", kind, ErrMalformed, err)
	}
	return m, nil
}

// checkKey reports whether k is a valid key token.
func checkKey(k string) error {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return fmt.Errorf("key of %d bytes, want 1-%d", len(k), MaxKeyLen)
	}
	if !utf8.ValidString(k) {
		return errors.New("key is not valid UTF-8")
	}
	for _, r := range k {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("key contains %U", r)
		}
	}
	return nil
}

func checkPort(p uint16) error {
	if p == 0 {
		return errors.New("port 0")
	}
	return nil
}

// ipToken returns the wire form of an IPv4 address field, or an error naming
// the field if a is not IPv4.
func ipToken(name string, a netip.Addr) (string, error) {
	if !a.Is4() {
		return "", fmt.Errorf("%s %v is not an IPv4 address", name, a)
	}
	return a.String(), nil
}

// addrPortToken returns the wire form of an IPv4 address and port.
func addrPortToken(a netip.AddrPort) (string, error) {
	if !a.Addr().Is4() || a.Port() == 0 {
		return "", fmt.Errorf("listed %v is not an IPv4 address and port", a)
	}
	return a.String(), nil
}

func parseAddrPort(tok string) (netip.AddrPort, error) {
	a, err := netip.ParseAddrPort(tok)
	if err != nil || !a.Addr().Is4() || a.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("listed %.25q is not an IPv4 address and port", tok)
	}
	return a, nil
}

func parseIP(name, tok string) (netip.Addr, error) {
	a, err := netip.ParseAddr(tok)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s %.20q is not an IPv4 address", name, tok)
	}
	return a, nil
}

// parseUint parses an unsigned number without sign or prefix.
func parseUint(name, tok string, base, bits int) (uint64, error) {
	n, err := strconv.ParseUint(tok, base, bits)
	if err != nil {
		return 0, fmt.Errorf("%s %.25q is not a %d-bit number", name, tok, bits)
	}
	return n, nil
}
