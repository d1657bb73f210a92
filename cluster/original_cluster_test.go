package cluster_test

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/mcast"
	"github.com/diststore/diststore/store"
)

// memOriginal is a node of the original pydiststore on the fake network:
// it answers keycount and whohas from the group as the original does
// (whohas by the key's raw text, as it holds it), elects again on
// masterlost (a keycount query), and memPeers serves its /list and
// /getlocal.
type memOriginal struct {
	addr netip.Addr
	tr   mcast.Transport
	done chan struct{}

	mu sync.Mutex // guards ds
	ds map[string][]byte
}

// startOriginal runs an original node at 127.0.2.i holding ds.
func (c *testCluster) startOriginal(i int, ds map[string]string) *memOriginal {
	c.t.Helper()
	o := &memOriginal{addr: addr(i), tr: c.net.Join(addr(i)), done: make(chan struct{}), ds: map[string][]byte{}}
	for k, v := range ds {
		o.ds[k] = []byte(v)
	}
	c.peers.mu.Lock()
	c.peers.origs[o.addr] = o
	c.peers.mu.Unlock()
	go o.listen()
	c.t.Cleanup(func() {
		_ = o.tr.Close()
		<-o.done
	})
	return o
}

func (o *memOriginal) listen() {
	defer close(o.done)
	for p := range o.tr.Packets() {
		if !p.Group {
			continue
		}
		f := strings.Fields(string(p.Data))
		switch {
		case len(f) == 3 && f[0] == "keycount":
			to, err := netip.ParseAddrPort(f[1] + ":" + f[2])
			if err == nil {
				_ = o.tr.Unicast(to, fmt.Appendf(nil, "keycount %s %d", o.addr, len(o.keys())))
			}
		case len(f) == 3 && f[0] == "masterlost":
			// It elects again: a keycount query to the group; answers come
			// back on its socket, and are ignored here.
			_ = o.tr.Multicast(fmt.Appendf(nil, "keycount %s %d", o.addr, o.tr.LocalAddr().Port()))
		case len(f) == 4 && f[0] == "whohas":
			to, err := netip.ParseAddrPort(f[2] + ":" + f[3])
			if _, ok := o.get(f[1]); ok && err == nil {
				_ = o.tr.Unicast(to, fmt.Appendf(nil, "gotkey %s %s", f[1], o.addr))
			}
		}
	}
}

func (o *memOriginal) get(k string) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.ds[k]
	return v, ok
}

func (o *memOriginal) del(k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.ds, k)
}

func (o *memOriginal) keys() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(maps.Keys(o.ds))
}

// mixedCluster is a test cluster whose timers suit original nodes.
func mixedCluster(t *testing.T) *testCluster {
	c := newTestCluster(t)
	c.cfg.MulticastTimeout = 200 * time.Millisecond
	c.cfg.OriginalInterval = 100 * time.Millisecond
	c.cfg.MigrateInterval = 200 * time.Millisecond
	return c
}

func TestNode_Original_MigrationCopiesWhatTheMastersLack(t *testing.T) {
	c := mixedCluster(t)
	o := c.startOriginal(21, map[string]string{
		"a":         "1",
		"caf%C3%A9": "2",   // sent escaped to the original, which keeps the text
		"real":      "old", // also written through diststore: that write wins
		"gone":      "x",   // deleted through diststore: stays deleted
		"bad%0Akey": "y",   // a newline once unescaped: diststore cannot hold it
	})
	nodes := c.startN(3)
	masters := c.waitAgreed()
	_, err := nodes[2].Put(ctx(t), "real", []byte("new"))
	require.NoError(t, err)
	_, err = nodes[2].Write(ctx(t), "gone", cluster.Write{Delete: true})
	require.NoError(t, err)

	want := map[string]string{"a": "1", "café": "2", "real": "new"}
	eventually(t, 10*time.Second, func() error {
		for _, m := range masters {
			n := c.node(m)
			for k, v := range want {
				if e, ok := n.GetLocal(k); !ok || string(e.Value) != v {
					return fmt.Errorf("master %s holds %q = %q (%v), want %q", m, k, e.Value, ok, v)
				}
			}
			if _, ok := n.GetLocal("gone"); ok {
				return fmt.Errorf("master %s holds a deleted key again", m)
			}
			st := n.Status()
			if st.Migration == nil {
				return fmt.Errorf("master %s: no migration in its status", m)
			}
			i := slices.IndexFunc(st.Members, func(ms api.MemberStatus) bool { return ms.Addr == o.addr.String() })
			if i < 0 || st.Members[i].Kind != api.KindOriginal || st.Members[i].Missing != 1 {
				return fmt.Errorf("master %s lists the original as %+v, want kind original, 1 key missing", m, st.Members)
			}
		}
		return nil
	})
	for _, n := range nodes {
		st := n.Status()
		require.NotNil(t, st.Migration, "node %s", n.Addr())
		assert.False(t, st.Migration.Done, "node %s: a key the masters cannot hold is missing", n.Addr())
	}
	// A copy's version is older than any write through diststore.
	e, _ := c.node(masters[0]).GetLocal("a")
	r, _ := c.node(masters[0]).GetLocal("real")
	assert.True(t, r.Version.Newer(e.Version))

	o.del("bad%0Akey")
	eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if st := n.Status(); st.Migration == nil || !st.Migration.Done {
				return fmt.Errorf("node %s: migration %+v", n.Addr(), st.Migration)
			}
		}
		return nil
	})
}

func TestNode_Original_ForwardedWriteReachesEveryMaster(t *testing.T) {
	c := mixedCluster(t)
	o := c.startOriginal(21, map[string]string{"k": "v"})
	c.startN(3)
	masters := c.waitAgreed()
	m := c.node(masters[0])
	eventually(t, 5*time.Second, func() error {
		if st := m.Status(); st.Migration == nil {
			return errors.New("the original is not known yet")
		}
		return nil
	})
	// The original's forwarding of a write it took: POST /local from it.
	held, err := m.StoreLocal(ctx(t), o.addr, "fwd", store.Entry{Value: []byte("through the original")})
	require.NoError(t, err)
	for _, a := range masters {
		e, ok := c.node(a).GetLocal("fwd")
		require.True(t, ok, "master %s holds the write as soon as it is answered", a)
		assert.Equal(t, held.Version, e.Version)
	}
	// From anyone else, POST /local stays on the node.
	_, err = m.StoreLocal(ctx(t), netip.MustParseAddr("127.0.2.99"), "only-here", store.Entry{Value: []byte("x")})
	require.NoError(t, err)
	_, ok := c.node(masters[1]).GetLocal("only-here")
	assert.False(t, ok)
}
