package testenv

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// LockWait bounds how long Kafka and KafkaCtl wait for the restart lock.
var LockWait = 5 * time.Minute

type mode int

const (
	none mode = iota
	shared
	exclusive
)

func (m mode) String() string {
	switch m {
	case shared:
		return "shared"
	case exclusive:
		return "exclusive"
	}
	return "none"
}

// restartLock is this process's view of the cross-process restart lock: the
// holds of its tests and the flock mode of its one open lock file.
type restartLock struct {
	mu     sync.Mutex
	path   string
	file   *os.File
	locked mode                // flock mode currently held on file
	holds  map[testing.TB]mode // what each live test holds
	owner  testing.TB          // the exclusive holder, if any
}

var (
	lockOnce sync.Once
	theLock  *restartLock
)

// processLock returns the restart lock named by UNPAIR_TEST_KAFKA_LOCK, or
// nil when the variable is unset.
func processLock() *restartLock {
	lockOnce.Do(func() {
		if p := strings.TrimSpace(os.Getenv("UNPAIR_TEST_KAFKA_LOCK")); p != "" {
			theLock = newRestartLock(p)
		}
	})
	return theLock
}

func newRestartLock(path string) *restartLock {
	return &restartLock{path: path, holds: map[testing.TB]mode{}}
}

// holdKafka takes the restart lock in mode m for t until t ends.
func holdKafka(t testing.TB, m mode) {
	t.Helper()
	l := processLock()
	if l == nil {
		return
	}
	if err := l.acquire(t, m, LockWait); err != nil {
		t.Fatalf("%v", err)
	}
}

// acquire gives t a hold of mode m, waiting at most wait, and registers its
// release with t.Cleanup.
func (l *restartLock) acquire(t testing.TB, m mode, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	l.mu.Lock()
	defer l.mu.Unlock()
	had := l.holds[t]
	if had >= m {
		return nil
	}
	for {
		others := 0
		for h := range l.holds {
			if h != t {
				others++
			}
		}
		free := l.owner == nil && (m == shared || others == 0)
		if free {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot take the Kafka restart lock (%s) within %v: %d other test(s) of this process hold the broker (%s mode held by %s); fault tests (KafkaCtl) must not run in parallel with other Kafka tests of one package",
				m, wait, others, l.locked, ownerName(l.owner))
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // polling shared state with a deadline
		l.mu.Lock()
	}
	if err := l.flock(m, time.Until(deadline)); err != nil {
		return err
	}
	l.holds[t] = m
	if m == exclusive {
		l.owner = t
	}
	if had == none {
		t.Cleanup(func() { l.release(t) })
	}
	return nil
}

// release drops t's hold and relaxes the file lock to what the remaining
// holds need.
func (l *restartLock) release(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.holds, t)
	if l.owner == t {
		l.owner = nil
	}
	want := none
	if len(l.holds) > 0 {
		want = shared
	}
	if want != l.locked {
		if err := l.flock(want, LockWait); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func ownerName(t testing.TB) string {
	if t == nil {
		return "no test"
	}
	return t.Name()
}
