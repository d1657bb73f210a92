package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/diststore/diststore/election"
	"github.com/diststore/diststore/store"
)

// maxWriteRounds bounds how many master pairs one write tries before it
// gives up with ErrNoMaster.
const maxWriteRounds = 4

// WriteResult is what a successful Put reports.
type WriteResult struct {
	Entry   store.Entry  // the entry as stored here
	Masters []netip.Addr // the masters that hold it
}

// PutLocal stores value under key on this node only. A zero version means
// a new write: the node's clock versions it. It returns the entry held
// afterwards, which is newer than the one given if this node already held
// a newer version.
func (n *Node) PutLocal(key string, value []byte, v store.Version) (store.Entry, error) {
	if err := n.checkValue(value); err != nil {
		return store.Entry{}, err
	}
	if v.IsZero() {
		v = n.clock.Next()
	} else {
		n.clock.Observe(v)
	}
	held, _, err := n.st.Put(key, store.Entry{Value: value, Version: v})
	if err != nil {
		return store.Entry{}, fmt.Errorf("store %q: %w", key, err)
	}
	return held, nil
}

// Put stores value under key here and on every master, and returns once
// every master of the current pair holds it. A master that cannot be
// reached is replaced and the write goes on to its successor.
func (n *Node) Put(ctx context.Context, key string, value []byte) (WriteResult, error) {
	if n.closed.Load() {
		return WriteResult{}, ErrClosed
	}
	e, err := n.PutLocal(key, value, store.Version{})
	if err != nil {
		return WriteResult{}, err
	}
	pair, err := n.waitMasters(ctx)
	if err != nil {
		return WriteResult{}, err
	}
	held := map[netip.Addr]bool{}
	if pair.Has(n.self) {
		held[n.self] = true
	}
	for round := 0; round < maxWriteRounds; round++ {
		var todo []netip.Addr
		for _, m := range pair.Masters {
			if !held[m] {
				todo = append(todo, m)
			}
		}
		if len(todo) == 0 {
			return WriteResult{Entry: e, Masters: slices.Clone(pair.Masters)}, nil
		}
		errs := n.forwardAll(ctx, todo, key, e)
		for i, m := range todo {
			switch {
			case errs[i] == nil:
				held[m] = true
			case errors.Is(errs[i], ErrMasterRefused):
				return WriteResult{}, errs[i]
			case ctx.Err() != nil:
				return WriteResult{}, ctx.Err()
			default:
				n.lostMaster(m, errs[i])
			}
		}
		pair = n.Masters()
		if pair.Has(n.self) {
			held[n.self] = true
		}
	}
	return WriteResult{}, fmt.Errorf("%w: masters kept failing", ErrNoMaster)
}

// forwardAll sends e to every master in to at once and returns their
// errors, index by index.
func (n *Node) forwardAll(ctx context.Context, to []netip.Addr, key string, e store.Entry) []error {
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	for i, m := range to {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.peers.forward(ctx, m, n.cfg.HTTPPort, key, e)
		}()
	}
	wg.Wait()
	return errs
}

// waitMasters returns the current pair, waiting for one to be chosen
// while the node joins.
func (n *Node) waitMasters(ctx context.Context) (election.Pair, error) {
	limit := time.NewTimer(4*n.cfg.HeartbeatInterval + n.cfg.MulticastTimeout)
	defer limit.Stop()
	for {
		n.mu.Lock()
		p, wait := n.pair, n.pairWait
		n.mu.Unlock()
		if len(p.Masters) > 0 {
			return p, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return p, ctx.Err()
		case <-n.stop:
			return p, ErrClosed
		case <-limit.C:
			return p, fmt.Errorf("%w: masters not known yet", ErrNoMaster)
		}
	}
}

func (n *Node) checkValue(value []byte) error {
	if int64(len(value)) > n.cfg.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(value), n.cfg.MaxValueSize)
	}
	return nil
}
