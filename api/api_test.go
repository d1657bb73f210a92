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
		Members: []api.MemberStatus{{Addr: "127.0.2.1", Keys: 5, Master: true, Synced: true, Kind: api.KindDiststore}},
		Local:   7, Remote: 8, Misses: 9, Secure: true, ClientTokens: true,
	}
	data, err := json.Marshal(st)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"addr": "127.0.2.1", "masters": ["127.0.2.1", "127.0.2.2"], "epoch": 3,
		"is_master": true, "synced": true, "ready": true, "reconciling": true,
		"keys": 5, "cached": 2, "cache_mib": 0.5,
		"members": [{"addr": "127.0.2.1", "keys": 5, "master": true, "synced": true, "kind": "diststore"}],
		"reads_local": 7, "reads_remote": 8, "reads_missed": 9,
		"secure": true, "client_tokens": true
	}`, string(data))

	var back api.Status
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, st, back)
}

// TestStatus_JSON_Originals pins the names of the original nodes and the
// migration in GET /status.
func TestStatus_JSON_Originals(t *testing.T) {
	st := api.Status{
		Addr: "127.0.2.1", Masters: []string{"127.0.2.1"}, Epoch: 1, IsMaster: true, Synced: true, Ready: true, Keys: 5,
		Members: []api.MemberStatus{
			{Addr: "127.0.2.1", Keys: 5, Master: true, Synced: true, Kind: api.KindDiststore, Migrated: true},
			{Addr: "127.0.2.21", Keys: 4, Kind: api.KindOriginal, Missing: 1},
		},
		Migration: &api.Migration{Originals: 1, OriginalKeys: 4, Done: false, Pending: []string{"127.0.2.1"}},
	}
	data, err := json.Marshal(st)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"addr": "127.0.2.1", "masters": ["127.0.2.1"], "epoch": 1,
		"is_master": true, "synced": true, "ready": true, "reconciling": false,
		"keys": 5, "cached": 0, "cache_mib": 0,
		"members": [
			{"addr": "127.0.2.1", "keys": 5, "master": true, "synced": true, "kind": "diststore", "migrated": true},
			{"addr": "127.0.2.21", "keys": 4, "master": false, "synced": false, "kind": "original", "missing": 1}
		],
		"reads_local": 0, "reads_remote": 0, "reads_missed": 0,
		"secure": false, "client_tokens": false,
		"migration": {"originals": 1, "original_keys": 4, "done": false, "pending": ["127.0.2.1"]}
	}`, string(data))
}
