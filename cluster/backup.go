package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/store"
)

// ErrNoBackup: the node's durable store cannot write a backup (it is not
// a store.Backuper, as an in-memory store in tests).
var ErrNoBackup = errors.New("this node's store cannot write a backup")

// WriteBackup writes a consistent copy of what this node holds durably to
// w (store.Backuper: for a Bolt store, its file as of one instant) while
// the node goes on serving; begin, if not nil, is called first with the
// copy's size. Only a synced master holds every key, so any other node
// refuses with ErrNotMaster. The caller bounds w's time: while the copy
// is written, a write that must grow the store's file waits for it.
func (n *Node) WriteBackup(w io.Writer, begin func(size int64)) error {
	v := n.view.Load()
	if !v.authoritative(n.self) {
		if len(v.pair.Masters) == 0 {
			return fmt.Errorf("%w: this node holds only some keys, and no master is known yet", ErrNotMaster)
		}
		return fmt.Errorf("%w: this node holds only some keys; back up a master (%s)", ErrNotMaster, addrList(v.pair.Masters))
	}
	b, ok := n.durable.(store.Backuper)
	if !ok {
		return ErrNoBackup
	}
	_, err := b.WriteBackup(w, begin)
	return err
}

// Restore stores the entries of a dump stream (store.ReadDump: a backup's
// entries, as `diststore restore` sends them) in this node's durable
// store, each with its own version, in batches of one transaction: an
// entry is stored only if it is newer than what the node holds, so newer
// data wins and a restore can be repeated. An entry already expired is
// skipped, and so is one whose version is further ahead of this node's
// clock than Config.MaxClockSkew (counted as refused), as in a sync.
//
// Only a master takes a restore, and it stores the entries itself
// without forwarding them: the client restores to every master of the
// pair (and to a new master that replaced one meanwhile, which also
// copies from the other master as it syncs). Anything else is refused
// with ErrNotMaster, also a master demoted half way; the batches stored
// before stay, which is harmless as they are versioned. A stream that is
// malformed or cut short is store.ErrBadDump, after the batches before
// it. ctx ends the restore between entries.
//
// Copies that other nodes cached before the restore are not invalidated:
// they expire within Config.CacheTTL.
func (n *Node) Restore(ctx context.Context, r io.Reader) (api.RestoreResult, error) {
	res := api.RestoreResult{Node: n.self.String()}
	if n.closed.Load() {
		return res, ErrClosed
	}
	if err := n.restoring(); err != nil {
		return res, err
	}
	now := n.nowMs()
	batch, size := make([]store.KeyEntry, 0, syncBatch), 0
	flush := func() error {
		if err := n.restoring(); err != nil {
			return err
		}
		k, err := n.durable.PutMany(batch)
		if err != nil {
			return err
		}
		res.Applied += k
		res.Older += len(batch) - k
		clear(batch) // let the values go
		batch, size = batch[:0], 0
		return nil
	}
	err := store.ReadDump(r, n.cfg.MaxValueSize, func(key string, e store.Entry, noValue bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Read++
		switch {
		case noValue:
			return fmt.Errorf("%w: entry of %q without its value", store.ErrBadDump, key)
		case !e.Deleted && !e.Live(now):
			res.Expired++
			return nil
		}
		if err := n.clock.Observe(e.Version); err != nil {
			res.Refused++ // from the future: it would freeze the key everywhere
			return nil
		}
		batch = append(batch, store.KeyEntry{Key: key, Entry: e})
		size += len(key) + len(e.Value)
		if len(batch) == syncBatch || size >= syncBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if res.Refused > 0 {
		n.log.Warn("restore: entries too far ahead of this node's clock: not stored", "entries", res.Refused)
	}
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	n.log.Info("restored entries", "read", res.Read, "applied", res.Applied, "older", res.Older,
		"expired", res.Expired, "refused", res.Refused)
	return res, nil
}

// restoring returns ErrNotMaster if this node is not a master.
func (n *Node) restoring() error {
	v := n.view.Load()
	if v.isMaster(n.self) {
		return nil
	}
	if len(v.pair.Masters) == 0 {
		return fmt.Errorf("%w: no master is known yet", ErrNotMaster)
	}
	return fmt.Errorf("%w: restore to the masters (%s)", ErrNotMaster, addrList(v.pair.Masters))
}
