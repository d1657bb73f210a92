package api_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diststore/diststore/api"
)

// TestStatus_JSON pins the names of GET /status: clients outside this
// module read them.
func TestStatus_JSON(t *testing.T) {
	st := api.Status{
		Addr: "127.0.2.1", Masters: []string{"127.0.2.1", "127.0.2.2"}, Epoch: 3,
		IsMaster: true, Synced: true, Ready: true, Reconciling: true, Keys: 5, Cached: 2, CacheMB: 0.5,
		Members: []api.MemberStatus{{Addr: "127.0.2.1", Keys: 5, Master: true, Synced: true}},
		Local:   7, Remote: 8, Misses: 9, Secure: true, ClientTokens: true,
	}
	data, err := json.Marshal(st)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"addr": "127.0.2.1", "masters": ["127.0.2.1", "127.0.2.2"], "epoch": 3,
		"is_master": true, "synced": true, "ready": true, "reconciling": true,
		"keys": 5, "cached": 2, "cache_mib": 0.5,
		"members": [{"addr": "127.0.2.1", "keys": 5, "master": true, "synced": true}],
		"reads_local": 7, "reads_remote": 8, "reads_missed": 9,
		"secure": true, "client_tokens": true
	}`, string(data))

	var back api.Status
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, st, back)
}
