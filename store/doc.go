// Package store owns what a node keeps: values with their versions.
//
// A Version orders the writes of one key across the cluster: a hybrid
// logical clock (milliseconds of wall time in the high bits, a counter in the
// low bits) and the writing node's address as a tie-breaker. Every replica
// keeps the highest version it has seen, so replicas that receive the same
// writes in any order end up identical.
//
// Store is the small interface the cluster needs. Memory keeps entries in
// memory; Bolt keeps them in a bbolt file, fsynced before Put returns, with
// concurrent writers sharing commits (group commit).
package store
