// Package integration runs real diststored processes and checks the
// cluster's behaviour from the outside, over HTTP and UDP multicast, the
// way an operator would see it.
//
// Every node runs on its own loopback alias 127.0.2.N (N = 1..10), all on
// HTTP port 8181, inside a private network namespace: TestMain re-executes
// the test binary under
//
//	unshare -rn sh -c 'ip link set lo up && ip link set lo multicast on &&
//	                   ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"'
//
// so multicast works on loopback and no test packet leaves the namespace.
// Where that is impossible (no unshare or ip, no privilege for user or
// network namespaces) the run fails with one line, "integration tests
// cannot run: <reason>"; it never passes by not running. A test that needs
// a tool (iptables, chromium, curl) fails naming it when it is missing.
//
// Tests of a group shared with the original pydiststore run emulated
// original nodes (origNode, original_test.go) inside the test binary, on
// 127.0.2.21 and up.
//
// TestFault_Split runs each node in a network namespace of its own, joined
// by veth pairs to bridges, so that a split cuts every packet between the
// two sides (lan_test.go). Tests that only produce the figures of docs/durability.md
// and take longer are built with -tags figures (make faults).
//
// TestAdversary (adversary_test.go, adversary_attacks_test.go) repeats
// the attacks of issue 9 against a fresh 3-node cluster each, from a
// forger at 127.0.2.9 (and 127.0.2.8) built on internal/forge: forged
// heartbeats, byes, invals and answers, spoofed sources, a fake node
// serving poisoned values, forged versions, cross-origin forms, stalled
// dumps. Each attack is a table entry: run (the attack) and check, which
// first proves the attack reached the nodes (their refusal counters, the
// attacker's own sockets) and then asserts the outcome. The table runs
// twice: open/<attack> against a cluster without a cluster key (the bounds
// hold), keyed/<attack> against one with a key the forger lacks (no attack
// has any effect).
//
// TestUpgrade_RollingFromPreviousRelease (upgrade_test.go) builds the
// previous release's diststored from its commit (git archive, then go
// build offline from the shared module cache; it fails naming git or the
// commit when they are missing), runs four such nodes and replaces them
// one by one with this tree's under load: the compatibility promise of
// package mcast's doc, shown.
//
// The daemon is built once per run from ./cmd/diststored (before entering
// the namespace, which has no network for module downloads). Tests run
// sequentially, each with a fresh cluster; every node's stderr goes to a
// file in the test's temporary directory and its tail is printed when a
// test fails.
//
// Run with:
//
//	go test ./integration/ -count=1 -v
package integration
