package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/diststore/diststore/store"
)

// The dump format streams every entry a node holds:
//
//	diststore-dump 1\n
//	<key> <version> <length>\n<value>\n   (once per entry)
//	end\n
//
// Keys hold no whitespace, so the header line splits on spaces; the
// closing "end" tells a complete dump from a cut one.
const (
	dumpMagic = "diststore-dump 1"
	dumpEnd   = "end"
)

// ErrBadDump is returned when a dump stream is malformed or cut short.
var ErrBadDump = errors.New("malformed dump")

// WriteDump writes every entry this node holds to w.
func (n *Node) WriteDump(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := fmt.Fprintf(bw, "%s\n", dumpMagic); err != nil {
		return err
	}
	var werr error
	n.st.Range(func(key string, e store.Entry) bool {
		if _, werr = fmt.Fprintf(bw, "%s %s %d\n", key, e.Version, len(e.Value)); werr != nil {
			return false
		}
		if _, werr = bw.Write(e.Value); werr != nil {
			return false
		}
		werr = bw.WriteByte('\n')
		return werr == nil
	})
	if werr != nil {
		return werr
	}
	if _, err := fmt.Fprintf(bw, "%s\n", dumpEnd); err != nil {
		return err
	}
	return bw.Flush()
}

// readDump applies every entry of a dump to the store and returns how
// many it applied (those newer than what was held).
func (n *Node) readDump(r io.Reader) (read, applied int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	line := func() (string, error) {
		b, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: cut short", ErrBadDump)
			}
			return "", fmt.Errorf("%w: %v", ErrBadDump, err)
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	head, err := line()
	if err != nil {
		return 0, 0, err
	}
	if head != dumpMagic {
		return 0, 0, fmt.Errorf("%w: header %q", ErrBadDump, head)
	}
	for {
		h, err := line()
		if err != nil {
			return read, applied, err
		}
		if h == dumpEnd {
			return read, applied, nil
		}
		f := strings.Split(h, " ")
		if len(f) != 3 || store.CheckKey(f[0]) != nil {
			return read, applied, fmt.Errorf("%w: entry header %q", ErrBadDump, h)
		}
		v, err := store.ParseVersion(f[1])
		if err != nil {
			return read, applied, fmt.Errorf("%w: %v", ErrBadDump, err)
		}
		size, err := parseLen(f[2], n.cfg.MaxValueSize)
		if err != nil {
			return read, applied, fmt.Errorf("%w: %v", ErrBadDump, err)
		}
		value := make([]byte, size+1)
		if _, err := io.ReadFull(br, value); err != nil || value[size] != '\n' {
			return read, applied, fmt.Errorf("%w: value of %q cut short", ErrBadDump, f[0])
		}
		read++
		n.clock.Observe(v)
		_, ok, err := n.st.Put(f[0], store.Entry{Value: value[:size], Version: v})
		if err != nil {
			return read, applied, fmt.Errorf("store %q: %w", f[0], err)
		}
		if ok {
			applied++
		}
	}
}

// syncLoop makes this node, when it is master, hold every key the other
// master holds. It runs a sync whenever kicked and retries a failed one.
func (n *Node) syncLoop() {
	var retry <-chan time.Time
	for {
		select {
		case <-n.stop:
			return
		case <-n.syncKick:
		case <-retry:
		}
		retry = nil
		if err := n.syncOnce(); err != nil {
			n.log.Warn("sync failed, will retry", "err", err)
			retry = time.After(jitter(n.cfg.HeartbeatInterval))
		}
	}
}

// syncOnce copies every entry of the other masters that this node lacks.
func (n *Node) syncOnce() error {
	n.mu.Lock()
	pair := n.pair
	n.mu.Unlock()
	if !pair.Has(n.self) {
		return nil
	}
	start := n.now()
	total := 0
	for _, m := range pair.Masters {
		if m == n.self {
			continue
		}
		read, applied, err := n.syncFrom(m)
		if err != nil {
			return fmt.Errorf("sync from %s: %w", m, err)
		}
		total += applied
		n.log.Info("synced", "from", m.String(), "entries", read, "applied", applied)
	}
	n.mu.Lock()
	if !n.pair.Equal(pair) {
		n.kickSync() // the pair changed meanwhile: sync against the new one
		n.mu.Unlock()
		return nil
	}
	n.stats.Syncs.Add(1)
	first := !n.synced
	n.synced = true
	hb := n.heartbeatLocked()
	n.mu.Unlock()
	if first {
		n.log.Info("master holds every key", "epoch", pair.Epoch, "applied", total,
			"took", n.now().Sub(start).Round(time.Millisecond).String())
		n.send(hb) // tell the others now rather than at the next heartbeat
	}
	return nil
}

func (n *Node) syncFrom(m netip.Addr) (read, applied int, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	body, err := n.peers.dump(ctx, m, n.cfg.HTTPPort)
	if err != nil {
		return 0, 0, err
	}
	defer body.Close()
	return n.readDump(body)
}
