package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

const statusJSON = `{
  "addr": "127.0.2.3",
  "masters": ["127.0.2.1", "127.0.2.2"],
  "epoch": 4,
  "is_master": false,
  "synced": false,
  "ready": true,
  "keys": 1,
  "members": [
    {"addr": "127.0.2.1", "keys": 1203, "master": true, "synced": true, "found": "group"},
    {"addr": "127.0.2.2", "keys": 1200, "master": true, "found": "gossip"},
    {"addr": "127.0.2.3", "keys": 1, "master": false}
  ],
  "reads_local": 10,
  "reads_remote": 2,
  "reads_missed": 1,
  "secure": true,
  "client_tokens": true
}
`

func TestStatus_Table(t *testing.T) {
	n := newFakeNode(t)
	n.status = statusJSON
	res := n.on(t, testSystem{}, "status")
	want := "" +
		"NODE       ROLE              KEYS  FOUND\n" +
		"127.0.2.1  master            1203  group\n" +
		"127.0.2.2  master (syncing)  1200  gossip\n" +
		"127.0.2.3  —                 1             (this node)\n" +
		"\n" +
		"masters: 127.0.2.1, 127.0.2.2\n" +
		"epoch:   4\n" +
		"node:    127.0.2.3, 1 keys, ready: yes\n" +
		"reads:   10 local, 2 from peers, 1 missed\n" +
		"secure:  cluster key, client tokens\n"
	assert.Equal(t, result{code: 0, stdout: want}, res)
	assert.Equal(t, "/status", n.last(t).Path)
}

func TestStatus_NotReady(t *testing.T) {
	n := newFakeNode(t)
	n.status = `{"addr":"127.0.2.9","masters":[],"epoch":0,"ready":false,"keys":0,"members":null}`
	res := n.on(t, testSystem{}, "status")
	want := "" +
		"NODE  ROLE  KEYS  FOUND\n" +
		"(no members known yet)\n" +
		"\n" +
		"masters: none known\n" +
		"epoch:   0\n" +
		"node:    127.0.2.9, 0 keys, ready: no: masters not known yet\n" +
		"reads:   0 local, 0 from peers, 0 missed\n" +
		"secure:  no cluster key: any host on the LAN can join\n"
	assert.Equal(t, result{code: 0, stdout: want}, res)
}

func TestStatus_JSON(t *testing.T) {
	n := newFakeNode(t)
	n.status = statusJSON
	assert.Equal(t, result{code: 0, stdout: statusJSON}, n.on(t, testSystem{}, "status", "--json"))
}

func TestStatus_BadJSON(t *testing.T) {
	n := newFakeNode(t)
	n.status = "<html>"
	res := n.on(t, testSystem{}, "status")
	assert.Equal(t, result{code: 2, stderr: "diststore: status: node " + n.srv.Listener.Addr().String() +
		" answered with unreadable JSON: invalid character '<' looking for beginning of value\n"}, res)
}

func TestStatus_Originals(t *testing.T) {
	n := newFakeNode(t)
	n.status = `{"addr":"127.0.2.1","masters":["127.0.2.1","127.0.2.2"],"epoch":3,"is_master":true,"synced":true,"ready":true,"keys":12,
"members":[{"addr":"127.0.2.1","keys":12,"master":true,"synced":true,"kind":"diststore"},
{"addr":"127.0.2.2","keys":12,"master":true,"synced":true,"kind":"diststore","migrated":true,"found":"join"},
{"addr":"127.0.2.21","keys":9,"kind":"original","missing":2},
{"addr":"127.0.2.22","keys":4,"kind":"original"}],
"migration":{"originals":2,"original_keys":13,"done":false,"pending":["127.0.2.1"]}}`
	res := n.on(t, testSystem{}, "status")
	want := "" +
		"NODE        ROLE      KEYS  FOUND\n" +
		"127.0.2.1   master    12           (this node)\n" +
		"127.0.2.2   master    12    join\n" +
		"127.0.2.21  original  9            (2 not yet copied here)\n" +
		"127.0.2.22  original  4\n" +
		"\n" +
		"masters: 127.0.2.1, 127.0.2.2\n" +
		"epoch:   3\n" +
		"node:    127.0.2.1, 12 keys, ready: yes\n" +
		"reads:   0 local, 0 from peers, 0 missed\n" +
		"secure:  no cluster key: any host on the LAN can join\n" +
		"originals: 2 on the group, 13 keys; every key on every master: not yet, waiting for 127.0.2.1\n"
	assert.Equal(t, result{code: 0, stdout: want}, res)
}
