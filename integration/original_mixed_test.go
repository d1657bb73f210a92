package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of a multicast group shared by diststored nodes and nodes of the
// original pydiststore (emulated by origNode, original_test.go): what an
// operator replacing an old cluster sees.

// startOriginals starts n emulated original nodes on origAddr(1..n).
func startOriginals(t testing.TB, n int) []*origNode {
	t.Helper()
	var os []*origNode
	for i := 1; i <= n; i++ {
		os = append(os, startOriginal(t, origAddr(i)))
	}
	return os
}

// origPost writes through an original node as a client does: POST
// <path> with the value as the body. path is sent as is.
func origPost(t testing.TB, o *origNode, path, val string) *reply {
	t.Helper()
	r, err := origDo(o, "POST", path, []byte(val))
	require.NoError(t, err, "POST %s to original %s", path, o.addr)
	return r
}

// mixedStatus is the part of GET /status these tests read, decoded by
// name as a user's script would.
type mixedStatus struct {
	Addr      string        `json:"addr"`
	Masters   []string      `json:"masters"`
	Members   []mixedMember `json:"members"`
	Migration *struct {
		Originals    int    `json:"originals"`
		OriginalKeys uint64 `json:"original_keys"`
		Done         bool   `json:"done"`
	} `json:"migration"`
}

type mixedMember struct {
	Addr     string `json:"addr"`
	Keys     uint64 `json:"keys"`
	Master   bool   `json:"master"`
	Kind     string `json:"kind"`
	Missing  int    `json:"missing"`
	Migrated bool   `json:"migrated"`
}

func mixedStatusOf(n *node) (*mixedStatus, error) {
	r, err := n.do("GET", "/status", nil, nil)
	if err != nil {
		return nil, err
	}
	if r.code != 200 {
		return nil, fmt.Errorf("node %s /status: %v", n.addr, r)
	}
	var st mixedStatus
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		return nil, fmt.Errorf("node %s /status: %w", n.addr, err)
	}
	return &st, nil
}

// waitOriginalsKnown waits until every running diststored node lists the
// given original nodes among its members, as an operator would check.
func waitOriginalsKnown(t testing.TB, c *cluster, origs ...*origNode) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		for _, n := range c.running() {
			st, err := mixedStatusOf(n)
			if err != nil {
				return err
			}
			for _, o := range origs {
				if !slices.ContainsFunc(st.Members, func(m mixedMember) bool { return m.Addr == o.addr && m.Kind == "original" }) {
					return fmt.Errorf("node %s does not list original %s", n.addr, o.addr)
				}
			}
		}
		return nil
	})
}

// TestOriginal_ReadsThroughAnOriginal: an original node that shares the
// group with diststored nodes reads keys held by diststore, keys held by
// another original node, and gets a 404 for a key nobody holds; it never
// drops a client's connection. The original takes the first datagram
// after its whohas as the answer, and one it cannot read (diststore's
// "nokey") makes it close the client's connection with no HTTP answer.
func TestOriginal_ReadsThroughAnOriginal(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	writer := c.nonMasters(masters)[0]
	origs := startOriginals(t, 2)
	holder, reader := origs[0], origs[1]

	const n = 20
	for i := range n {
		requirePut(t, writer, fmt.Sprintf("dist-%02d", i), fmt.Sprintf("dv%d", i))
		holder.put(fmt.Sprintf("orig-%02d", i), []byte(fmt.Sprintf("ov%d", i)))
	}
	failures := map[string][]string{}
	read := func(key, want string) {
		r, err := origDo(reader, "GET", "/get/"+key, nil)
		switch {
		case err != nil:
			failures["no answer"] = append(failures["no answer"], key)
		case r.code != 200 || r.body != want:
			failures[fmt.Sprintf("%d", r.code)] = append(failures[fmt.Sprintf("%d", r.code)], key)
		}
	}
	for i := range n {
		read(fmt.Sprintf("orig-%02d", i), fmt.Sprintf("ov%d", i))
		read(fmt.Sprintf("dist-%02d", i), fmt.Sprintf("dv%d", i))
	}
	assert.Empty(t, failures, "reads through original %s of %d keys held only by original %s and %d held by diststore (masters %v), by outcome",
		reader.addr, n, holder.addr, n, masters)
	for i := range 3 {
		key := fmt.Sprintf("nobody-%d", i)
		r, err := origDo(reader, "GET", "/get/"+key, nil)
		if assert.NoError(t, err, "a key nobody holds must be answered") {
			assert.Equal(t, 404, r.code, "GET /get/%s through the original: %v", key, r)
		}
	}
	assert.Zero(t, reader.dropped.Load(), "client connections the original closed without an answer")
	assert.Zero(t, reader.invalid.Load(), "datagrams the original could not read as the answer to its whohas")
	for _, o := range origs {
		assert.False(t, o.listenerDead.Load(), "original %s: multicast listener died", o.addr)
	}
}

// TestOriginal_KnownInStatus: diststored nodes list the original nodes on
// the group among their members, as kind "original" with their key
// counts, and never as masters; `diststore status` shows them.
func TestOriginal_KnownInStatus(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	origs := startOriginals(t, 2)
	for i := range 5 {
		origs[0].put(fmt.Sprintf("a%d", i), []byte("x"))
	}
	for i := range 3 {
		origs[1].put(fmt.Sprintf("b%d", i), []byte("x"))
	}
	want := map[string]uint64{origs[0].addr: 5, origs[1].addr: 3}
	eventually(t, 20*time.Second, func() error {
		for _, n := range c.nodes {
			st, err := mixedStatusOf(n)
			if err != nil {
				return err
			}
			got := map[string]uint64{}
			for _, m := range st.Members {
				if m.Kind == "original" {
					got[m.Addr] = m.Keys
					if m.Master {
						return fmt.Errorf("node %s lists original %s as a master", n.addr, m.Addr)
					}
				}
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("node %s lists original nodes %v, want %v", n.addr, got, want)
			}
			if !slices.Equal(sortedAddrs(st.Masters), masters) {
				return fmt.Errorf("node %s names masters %v, want the diststore masters %v", n.addr, st.Masters, masters)
			}
		}
		return nil
	})
	out, _, code := runCLI(t, c.node(1), "", "status")
	require.Equal(t, 0, code, "diststore status: %s", out)
	for addr, keys := range want {
		assert.Regexp(t, fmt.Sprintf(`(?m)^%s\s+original\s+%d\s*$`, strings.ReplaceAll(addr, ".", `\.`), keys), out,
			"diststore status lists original %s with %d keys", addr, keys)
	}
}

// TestOriginal_WriteThroughAnOriginalReachesBothMasters: a write through
// an original node reaches both diststore masters at once, and the
// original nodes come to hold the diststore masters as theirs. The
// original here holds more keys than the diststore masters, so by its own
// rule (most keys) it would be one of the two masters it picks.
func TestOriginal_WriteThroughAnOriginalReachesBothMasters(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	writer := c.nonMasters(masters)[0]
	for i := range 10 {
		requirePut(t, writer, fmt.Sprintf("d%d", i), "x")
	}
	origs := startOriginals(t, 2)
	for i := range 15 {
		origs[0].put(fmt.Sprintf("o%d", i), []byte("x"))
	}
	for i, o := range origs {
		key := fmt.Sprintf("through-original-%d", i)
		r := origPost(t, o, "/"+key, "w"+key)
		require.Equal(t, 200, r.code, "POST /%s to original %s: %v", key, o.addr, r)
		// Well within the masters' digest check (10 s), which would copy
		// it from one master to the other.
		eventually(t, 3*time.Second, func() error {
			for _, m := range masters {
				r := getLocal(t, c.byAddr(t, m), key)
				if r.code != 200 || r.body != "w"+key {
					return fmt.Errorf("master %s GET /getlocal/%s: %v (original %s holds masters %v)", m, key, r, o.addr, o.masterIPs())
				}
			}
			return nil
		})
	}
	eventually(t, 20*time.Second, func() error {
		for _, o := range origs {
			if got := sortedAddrs(o.masterIPs()); !slices.Equal(got, masters) {
				return fmt.Errorf("original %s holds masters %v, want the diststore masters %v", o.addr, got, masters)
			}
		}
		return nil
	})
}

// TestOriginal_LocalKeyReadEverywhere: a key stored on an original node
// with POST /local is read through every diststore node, the masters
// included: a master that holds every key written through the cluster
// still asks the group while original nodes are on it.
func TestOriginal_LocalKeyReadEverywhere(t *testing.T) {
	o := startOriginal(t, origAddr(1))
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	waitOriginalsKnown(t, c, o)
	r := origPost(t, o, "/local/only-on-original", "here")
	require.Equal(t, 200, r.code, "POST /local to the original: %v", r)
	for _, n := range c.nodes {
		r := get(t, n, "only-on-original")
		assert.Equal(t, 200, r.code, "node %s (masters %v) GET /get/only-on-original: %v", n.addr, masters, r)
		assert.Equal(t, "here", r.body, "node %s", n.addr)
	}
}

// TestOriginal_EscapedKeys: a key sent escaped is found across the two
// kinds of node. The original keeps the path's text as the key
// ("caf%C3%A9"); diststore unescapes it ("café").
func TestOriginal_EscapedKeys(t *testing.T) {
	c := startCluster(t, 3)
	masters := c.waitConverged(t, joinTimeout, c.nodes...)
	reader := c.nonMasters(masters)[0]
	origs := startOriginals(t, 2)
	// Until a node knows original nodes are on the group, it asks the
	// masters alone for what it lacks.
	waitOriginalsKnown(t, c, origs...)

	// Written through an original, read through diststore.
	r := origPost(t, origs[0], "/local/caf%C3%A9", "au lait")
	require.Equal(t, 200, r.code, "POST to the original: %v", r)
	_, held := origs[0].get("caf%C3%A9")
	require.True(t, held, "the original keeps the escaped text as its key")
	r = get(t, reader, "café")
	assert.Equal(t, 200, r.code, "node %s GET /get/caf%%C3%%A9, held by original %s: %v", reader.addr, origs[0].addr, r)
	assert.Equal(t, "au lait", r.body)

	// Written through diststore, read through an original that lacks it.
	requirePut(t, reader, "naïve", "oui")
	r2, err := origDo(origs[1], "GET", "/get/na%C3%AFve", nil)
	if assert.NoError(t, err, "GET through the original") {
		assert.Equal(t, 200, r2.code, "original %s GET /get/na%%C3%%AFve: %v", origs[1].addr, r2)
		assert.Equal(t, "oui", r2.body)
	}
}
