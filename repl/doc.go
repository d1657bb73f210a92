// Package repl is the replication stream: how a node hands forwarded
// writes to a master over one long-lived connection instead of one HTTP
// request per write per master.
//
// A writer keeps one stream per master (Pool, Client). Send queues a
// write; a sender goroutine writes whatever is queued as one frame while
// the previous frame travels (no timer: under load a frame holds what
// arrived during the last write), and a reader goroutine matches the
// master's acks to the writes by sequence number. On the master (Server)
// each write of a frame is applied by its own goroutine, so that
// concurrent writes from every stream share one group commit of the
// store, and acks go back as writes complete, again batched into frames.
// A write is acknowledged only once the master has stored it, fsynced:
// the guarantee of a forwarded write over HTTP, which stays for values
// larger than MaxStreamValue, for conditional writes and for nodes that
// do not serve streams.
//
// Bounds. A frame is at most MaxFrame bytes and MaxBatch writes, checked
// before it is read; a write's value at most MaxStreamValue. Writes in
// flight are bounded in bytes on both ends (ClientOptions,
// ServerOptions.MaxInFlightBytes): a writer waits for room, and a master
// stops reading a stream that is past its bound, so that TCP holds the
// writer back. Every wait has a deadline: the caller's context for room
// and for its ack, AckTimeout for the next ack while writes are in
// flight, WriteTimeout for each frame, IdleTimeout for a stream that
// carries nothing.
//
// The stream is opened by an HTTP/1.1 upgrade (GET /replicate with
// "Upgrade: diststore-repl/1"; package httpapi dials and answers it).
// With a cluster key the upgrade request is signed like every
// node-to-node request, both ends prove the key to each other with fresh
// nonces, and every frame carries an HMAC-SHA256 under a key of that
// stream and direction over its index in the stream, its type and its
// payload (clusterkey.StreamHello): a frame cannot be forged, replayed,
// reordered, dropped or moved to another stream without the stream
// failing. Without a key the stream is open, as the HTTP routes are.
//
// Wire format, all integers big endian:
//
//	frame   length u32 (of what follows), type u8, payload, [MAC 32 bytes]
//	type 1  writes: count u16, then per write: seq u64, epoch u64,
//	        version clock u64, version node u32, flags u8 (1: delete),
//	        expires i64 (Unix ms, 0: never), key length u16,
//	        value length u32, key, value
//	type 2  acks: count u16, then per ack: seq u64, code u8 (0 stored,
//	        1 not a master, 2 refused, 3 a condition failed), held
//	        version clock u64 and
//	        node u32, reason length u16, reason
//
// Frame types and ack codes are append-only.
package repl
