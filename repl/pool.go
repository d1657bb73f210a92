package repl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrUnsupported: the node does not serve replication streams (an older
// diststore, or the original): send it a request per write instead.
var ErrUnsupported = errors.New("node does not serve replication streams")

// ErrPoolClosed: the Pool was closed.
var ErrPoolClosed = errors.New("replication pool closed")

// unsupportedFor is how long a node that does not serve streams is not
// asked again.
const unsupportedFor = time.Minute

// Dialer opens a stream to the node at to: it connects, upgrades and, on
// a keyed cluster, authenticates both ends. An error wrapping
// ErrUnsupported says the node does not serve streams.
type Dialer func(ctx context.Context, to netip.AddrPort) (Link, error)

// Pool keeps one stream per node and sends writes on it, opening a new
// one when the last has ended. Safe for concurrent use.
type Pool struct {
	dial Dialer
	opts ClientOptions
	now  func() time.Time

	mu     sync.Mutex // guards peers and closed
	peers  map[netip.AddrPort]*peer
	closed bool
}

// peer is the stream to one node.
type peer struct {
	c           *Client
	dialing     chan struct{} // closed when the dial in progress ends; nil if none
	unsupported time.Time     // until then, the node is not asked for a stream
}

// NewPool returns a Pool that opens streams with dial.
func NewPool(dial Dialer, opts ClientOptions) *Pool {
	return &Pool{dial: dial, opts: opts, now: time.Now, peers: map[netip.AddrPort]*peer{}}
}

// Send sends w to the node at to on its stream, opening one if needed. A
// write that a stream ended before sending is sent once more on a new
// one. The errors are those of Client.Send, the Dialer's (ErrUnsupported
// among them), or ErrPoolClosed.
func (p *Pool) Send(ctx context.Context, to netip.AddrPort, w Write) (Result, error) {
	for try := 0; ; try++ {
		c, err := p.client(ctx, to)
		if err != nil {
			return Result{}, err
		}
		res, err := c.Send(ctx, w)
		if errors.Is(err, ErrNotSent) && try == 0 && ctx.Err() == nil {
			continue
		}
		return res, err
	}
}

// client returns a working stream to to, dialling one if there is none
// (one dial per node at a time; others wait for it).
func (p *Pool) client(ctx context.Context, to netip.AddrPort) (*Client, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		pe := p.peers[to]
		if pe == nil {
			pe = &peer{}
			p.peers[to] = pe
		}
		if pe.c != nil && pe.c.Err() == nil {
			c := pe.c
			p.mu.Unlock()
			return c, nil
		}
		if p.now().Before(pe.unsupported) {
			p.mu.Unlock()
			return nil, fmt.Errorf("%s: %w", to, ErrUnsupported)
		}
		if wait := pe.dialing; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		old := pe.c
		pe.c = nil
		done := make(chan struct{})
		pe.dialing = done
		p.mu.Unlock()

		if old != nil {
			_ = old.Close() // ended already: this waits for its goroutines
		}
		link, err := p.dial(ctx, to)
		var c *Client
		if err == nil {
			c = NewClient(link, p.opts)
		}
		p.mu.Lock()
		pe.dialing = nil
		close(done)
		if errors.Is(err, ErrUnsupported) {
			pe.unsupported = p.now().Add(unsupportedFor)
		}
		closed := p.closed
		if err == nil && !closed {
			pe.c = c
		}
		p.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case closed:
			_ = c.Close()
			return nil, ErrPoolClosed
		}
		return c, nil
	}
}

// Close ends every stream (see Client.Close) and waits for their
// goroutines. Sends after it fail with ErrPoolClosed. Safe to call more
// than once.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	var cs []*Client
	for _, pe := range p.peers {
		if pe.c != nil {
			cs = append(cs, pe.c)
			pe.c = nil
		}
	}
	p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}
