package main

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/diststore/diststore/cluster"
	"github.com/diststore/diststore/internal/nodecfg"
)

// TestDefaults_MatchCluster: the defaults diststored and the client share
// (nodecfg) are those package cluster falls back on for an empty Config,
// which cannot import nodecfg.
func TestDefaults_MatchCluster(t *testing.T) {
	assert.Equal(t, cluster.DefaultHTTPPort, nodecfg.DefaultHTTPPort)
	assert.Equal(t, cluster.DefaultMulticastPort, nodecfg.DefaultMulticastPort)
	assert.Equal(t, cluster.DefaultGroup, netip.MustParseAddr(nodecfg.DefaultMulticastAddr))
	d, err := parseTimeout(defaultMulticastTimeout)
	assert.NoError(t, err)
	assert.Equal(t, cluster.DefaultMulticastTimeout, d)
}

// TestNames_MatchClient: the environment variables and file keys the
// client reads to find the local node are those diststored derives from
// its flags.
func TestNames_MatchClient(t *testing.T) {
	assert.Equal(t, nodecfg.EnvConfig, envVar(flagConfig))
	assert.Equal(t, nodecfg.EnvBind, envVar(flagBind))
	assert.Equal(t, nodecfg.EnvHTTPPort, envVar(flagHTTPPort))
	assert.Equal(t, nodecfg.KeyBind, fileKey(flagBind))
	assert.Equal(t, nodecfg.KeyHTTPPort, fileKey(flagHTTPPort))
	assert.Contains(t, configKeys(), nodecfg.KeyBind)
	assert.Contains(t, configKeys(), nodecfg.KeyHTTPPort)
}
