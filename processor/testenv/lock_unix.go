//go:build unix

package testenv

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// flock moves the file lock to mode m (none unlocks), waiting at most wait
// for other processes. Called with l.mu held.
func (l *restartLock) flock(m mode, wait time.Duration) error {
	if m == l.locked {
		return nil
	}
	if l.file == nil {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("cannot open the Kafka restart lock %s: %w", l.path, err)
		}
		l.file = f
	}
	how := syscall.LOCK_UN
	switch m {
	case shared:
		how = syscall.LOCK_SH
	case exclusive:
		how = syscall.LOCK_EX
	}
	if m == none {
		if err := syscall.Flock(int(l.file.Fd()), how); err != nil {
			return fmt.Errorf("cannot unlock the Kafka restart lock %s: %w", l.path, err)
		}
		l.locked = none
		return nil
	}
	// Non-blocking attempts with a deadline, so that a stuck holder in
	// another process ends in a clear failure instead of a hung test.
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(l.file.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			l.locked = m
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("cannot take the Kafka restart lock %s (%s): %w", l.path, m, err)
		}
		if time.Now().After(deadline) {
			// A failed conversion (shared to exclusive) may already have
			// dropped the lock held before: assume none is held now.
			l.locked = none
			return fmt.Errorf("cannot take the Kafka restart lock %s (%s) within %v: another test process holds it (a long Kafka test, or a fault test restarting the broker)", l.path, m, wait)
		}
		time.Sleep(50 * time.Millisecond) // polling the lock with a deadline
	}
}
