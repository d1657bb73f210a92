package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/clusterkey"
)

func TestKeygen(t *testing.T) {
	a := runCLI(t, testSystem{}, "keygen")
	b := runCLI(t, testSystem{}, "keygen")
	require.Equal(t, 0, a.code, a.stderr)
	assert.Empty(t, a.stderr)
	assert.NotEqual(t, a.stdout, b.stdout, "every key is new")
	keys, err := clusterkey.ParseKeys([]byte(a.stdout + b.stdout))
	require.NoError(t, err, "two lines of keygen make a key file")
	assert.Len(t, keys, 2)
	assert.Equal(t, 1, strings.Count(a.stdout, "\n"))

	assert.Equal(t, result{code: 2, stderr: "diststore: keygen: unexpected argument \"x\" (see diststore keygen --help)\n"},
		runCLI(t, testSystem{}, "keygen", "x"))
}

func TestToken_SentAsBearer(t *testing.T) {
	n := newFakeNode(t)
	n.set("k", "v")
	res := n.on(t, testSystem{env: map[string]string{envToken: "0123456789abcdef"}}, "get", "k")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, "Bearer 0123456789abcdef", n.last(t).Authorization)

	res = n.on(t, testSystem{}, "get", "k")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, n.last(t).Authorization, "no token, no header")
}
