//go:build !unix

package testenv

import "time"

// flock is a no-op where flock(2) does not exist: no restart locking.
func (l *restartLock) flock(m mode, _ time.Duration) error {
	l.locked = m
	return nil
}
