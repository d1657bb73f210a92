// Package client is a Go client of a diststore cluster. It speaks the
// HTTP API only (it imports none of the node's packages) and knows
// several nodes: when one cannot answer, it asks the next.
//
// # Which requests go to another node
//
// A request goes to the node that answered last, then to each other node
// in turn, until one answers. A node counts as failed when it cannot be
// reached (connection refused, no answer within Config.Timeout, an answer
// cut short) or answers 5xx; an answer 4xx is the cluster's decision
// (ErrNotFound, ErrConditionFailed, ErrConflict, ErrTooLarge...) and is
// returned as it is.
//
// Reads (Get, GetLocal, List, Status) change nothing, so any failure is
// tried again on the next node. So are unconditional writes (Put without
// a condition, Delete without IfMatch), though a node that failed half
// way may have applied the write: storing the same value again, or
// deleting again, leaves the key as the caller wanted, with a newer
// version; the one difference is that the retry is a later write, so a
// write another client made in between is overwritten (the last writer
// wins, as for any two writes of a key).
//
// A conditional write (IfMatch, IfAbsent, CompareAndSwap) is not: its
// condition was checked against the version the first node saw, and a
// retry after the first attempt was applied would fail its own condition
// or, worse, pass a condition it should not. It is tried on the next node
// only when the request never left (the connection was refused); after
// any other failure it returns an error that errors.Is reports as
// ErrUnknownOutcome: read the key to learn whether it was applied.
//
// Every method takes a context: its deadline or cancellation ends the
// request on every node. Errors name the request and the node, and are
// checked with errors.Is against the sentinel errors below; *StatusError
// and *ReachError carry the details.
//
// Backups and restores go to the cluster's masters, found with Status:
// OpenBackup streams a synced master's store (GET /backup), and Restore
// sends a backup's entries to every master (POST /admin/restore), each
// with its own version, so a key newer in the cluster keeps its value.
package client
