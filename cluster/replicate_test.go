package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/store"
)

// TestReplicateBatch_AsReplicate: each write of a batch is checked and
// answered as Replicate answers it alone (a version from the future, a
// value too large, no version), and the others are stored together.
func TestReplicateBatch_AsReplicate(t *testing.T) {
	s := newStepper(t, "127.0.2.1")
	s.now = time.Now()
	s.advance(2 * s.n.cfg.HeartbeatInterval) // alone: master
	require.True(t, s.n.isMaster())

	older := s.n.clock.Next()
	newer := s.n.clock.Next()
	_, err := s.n.Replicate("held", store.Entry{Value: []byte("newer"), Version: newer}, 0)
	require.NoError(t, err)

	rs := []Replica{
		{Key: "a", Entry: store.Entry{Value: []byte("1"), Version: s.n.clock.Next()}, Epoch: 1},
		{Key: "frozen", Entry: store.Entry{Value: []byte("x"), Version: future()}},
		{Key: "big", Entry: store.Entry{Value: make([]byte, s.n.cfg.MaxValueSize+1), Version: s.n.clock.Next()}},
		{Key: "none", Entry: store.Entry{Value: []byte("x")}},
		{Key: "held", Entry: store.Entry{Value: []byte("older"), Version: older}},
		{Key: "gone", Entry: store.Entry{Deleted: true, Version: s.n.clock.Next()}},
	}
	held, errs := s.n.ReplicateBatch(rs)
	require.NoError(t, errs[0])
	assert.Equal(t, rs[0].Entry.Version, held[0].Version)
	assert.ErrorIs(t, errs[1], store.ErrClockSkew)
	assert.ErrorIs(t, errs[2], ErrTooLarge)
	assert.ErrorIs(t, errs[3], store.ErrBadVersion)
	require.NoError(t, errs[4])
	assert.Equal(t, newer, held[4].Version, "an older write is answered with the newer one held")
	require.NoError(t, errs[5])

	e, ok := s.n.GetLocal("a")
	require.True(t, ok)
	assert.Equal(t, "1", string(e.Value))
	for _, k := range []string{"frozen", "big", "none", "gone"} {
		_, ok := s.n.GetLocal(k)
		assert.False(t, ok, k)
	}
	e, _ = s.n.GetLocal("held")
	assert.Equal(t, "newer", string(e.Value))
}

// TestReplicateBatch_NotMaster: a node that is not a master and knows a
// pair at least as new as the writer's refuses, as Replicate does; a
// writer whose epoch is newer than its view is taken.
func TestReplicateBatch_NotMaster(t *testing.T) {
	s := newStepper(t, "127.0.2.3")
	s.now = time.Now()
	s.advance(2 * s.n.cfg.HeartbeatInterval) // alone: master of its own pair
	epoch := s.n.Masters().Epoch
	require.NotZero(t, epoch)
	// Hand the seat to others at a newer epoch: this node is no master.
	s.n.inLoop(func() {
		s.n.own.pair.Masters = nil
		s.n.own.pair.Epoch = epoch + 1
		s.n.publish()
	})
	require.False(t, s.n.isMaster())
	v := s.n.clock.Next()
	_, errs := s.n.ReplicateBatch([]Replica{
		{Key: "stale", Entry: store.Entry{Value: []byte("x"), Version: v}, Epoch: epoch + 1},
		{Key: "ahead", Entry: store.Entry{Value: []byte("x"), Version: v}, Epoch: epoch + 2},
	})
	assert.ErrorIs(t, errs[0], ErrNotMaster)
	assert.NoError(t, errs[1])
}
