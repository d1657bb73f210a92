package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/diststore/diststore/store"
)

// Digest summarises what this node holds durably: how many entries
// (tombstones included, expired entries not) and a SHA-256 over every key,
// version, tombstone flag, expiry and value, in key order. Two masters that
// hold the same data have the same digest. Computing it reads every entry,
// which is why masters compare digests only every CheckInterval.
type Digest struct {
	Entries int    `json:"entries"`
	SHA256  string `json:"sha256"`
}

// Digest computes the node's Digest. It reads every entry: O(n).
func (n *Node) Digest() Digest {
	h := sha256.New()
	var d Digest
	var lenBuf [8]byte
	now := n.nowMs()
	n.durable.Range(func(k string, e store.Entry) bool {
		if !e.Deleted && !e.Live(now) {
			return true
		}
		d.Entries++
		fmt.Fprintf(h, "%s %s %t %d ", k, e.Version, e.Deleted, e.Expires)
		binary.BigEndian.PutUint64(lenBuf[:], uint64(len(e.Value)))
		h.Write(lenBuf[:])
		h.Write(e.Value)
		return true
	})
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d
}

// checkPartners compares, on a synced master, a digest of this node's data
// with each other master's, and copies from a master whose digest differs
// what this node lacks or holds older. Both masters do this, so a write
// that reached only one of them (its client gave up half way) ends up on
// both.
func (n *Node) checkPartners() error {
	v := n.view.Load()
	pair, synced := v.pair, v.authoritative(n.self)
	if !synced || n.leaving.Load() {
		return nil
	}
	local := n.localWrites.Load() // before the digest: it holds these
	mine := n.Digest()
	agreed := true
	for _, m := range pair.Masters {
		if m == n.self {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DigestTimeout)
		theirs, err := n.peers.Digest(ctx, n.peer(m))
		cancel()
		if err != nil {
			return fmt.Errorf("digest of %s: %w", m, err)
		}
		if theirs == mine {
			continue
		}
		agreed = false
		read, applied, err := n.syncFrom(m)
		if err != nil {
			return fmt.Errorf("sync from %s: %w", m, err)
		}
		if applied > 0 {
			n.log.Warn("masters differed: copied what this one lacked", "from", m.String(), "entries", read, "applied", applied)
		}
	}
	if agreed {
		n.localAgreed.Store(local) // every other master holds what POST /local stored here
	}
	return nil
}
