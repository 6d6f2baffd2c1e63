package store

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// OpenTimeout is Open with a chosen wait for the file lock: bbolt locks
// the file exclusively, so while a keepfed server holds the store another
// process (the token CLI) gets an error for which IsLocked is true after
// timeout and can ask the running server instead.
func OpenTimeout(path, clusterID string, timeout time.Duration) (*Store, error) {
	return open(path, clusterID, &bolt.Options{Timeout: timeout})
}

// IsLocked reports whether err (from Open or OpenTimeout) means another
// process holds the store's file lock.
func IsLocked(err error) bool {
	return errors.Is(err, bolterrors.ErrTimeout)
}
