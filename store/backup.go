package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backuper is a Store that can write a consistent copy of itself while it
// keeps serving: Bolt.
type Backuper interface {
	// WriteBackup writes a copy of the store as of one instant to w and
	// returns the bytes written. begin, if not nil, is called first with
	// the size the copy will have.
	WriteBackup(w io.Writer, begin func(size int64)) (int64, error)
}

var _ Backuper = (*Bolt)(nil)

// WriteBackup implements Backuper: it copies the store's file, as one read
// transaction sees it, with bbolt's Tx.WriteTo. Writes go on meanwhile;
// the copy holds none of those committed after it began. The copy is a
// store OpenBolt and ReadBackup take.
//
// The read transaction lasts as long as w takes the copy: while it is
// open, a write that must grow the file's memory map waits for it, so the
// caller bounds w's time.
func (s *Bolt) WriteBackup(w io.Writer, begin func(size int64)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if begin != nil {
			begin(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup of %s: %w", s.path, err)
	}
	return n, nil
}

// BackupInfo is what ReadBackup found in a backup.
type BackupInfo struct {
	Entries    int   // entries that are not tombstones, expired ones included
	Tombstones int   // deleted keys remembered
	Bytes      int64 // size of the file
}

// ReadBackup opens the backup at path (a copy of a Bolt store's file, as
// WriteBackup writes it) read-only, checks the diststore format marker
// and decodes every record, and calls fn, if not nil, with every entry in
// key order, tombstones included, until fn returns an error, which
// ReadBackup returns. With fn nil it also runs bbolt's check of every page
// of the file: verify a backup that way before using its entries. A file
// that is not a diststore store, is cut short or is damaged is
// ErrCorrupt.
func ReadBackup(path string, fn func(key string, e Entry) error) (info BackupInfo, err error) {
	// A damaged file may make bbolt panic or fault on the mmap, as in
	// OpenBolt: both become ErrCorrupt.
	var db *bolt.DB
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if db != nil {
				closeQuietly(db)
			}
			info, err = BackupInfo{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, p)
		}
	}()
	db, err = bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: backupLockTimeout})
	if err != nil {
		return BackupInfo{}, openError(path, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		info.Bytes = tx.Size()
		// A copy cut short (a download that stopped) ends before the
		// pages its meta page counts: reading those would fault.
		if st, err := os.Stat(path); err != nil {
			return err
		} else if st.Size() < info.Bytes {
			return fmt.Errorf("%w: %s: cut short: %d bytes of %d", ErrCorrupt, path, st.Size(), info.Bytes)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: %s: a bbolt file without a diststore format marker", ErrCorrupt, path)
		}
		if got := meta.Get(keyFormat); !bytes.Equal(got, formatMarker()) {
			return fmt.Errorf("%w: %s: unknown format marker %q", ErrCorrupt, path, got)
		}
		entries := tx.Bucket(bucketEntries)
		if entries == nil {
			return fmt.Errorf("%w: %s: no entries bucket", ErrCorrupt, path)
		}
		err := entries.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("%w: %s: unexpected bucket %q", ErrCorrupt, path, k)
			}
			if err := CheckKey(string(k)); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
			}
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("%s: key %q: %w", path, k, err)
			}
			if e.Deleted {
				info.Tombstones++
			} else {
				info.Entries++
			}
			if fn != nil {
				return fn(string(k), e)
			}
			return nil
		})
		if err != nil || fn != nil {
			return err
		}
		// bbolt's own check of every page, free ones included: what the
		// walk above does not read. It runs on a goroutine of its own,
		// which the fault guard above does not cover; the walk and the
		// size check went first.
		for cerr := range tx.Check() {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, cerr) // the first problem is enough
		}
		return nil
	})
	return info, err
}

// backupLockTimeout bounds the wait for a backup file another process
// holds open for writing.
const backupLockTimeout = time.Second
