//go:build unix

package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// otherProcess opens the lock file a second time: flock locks belong to open
// files, so this fd behaves like another test process.
func otherProcess(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tryFlock reports whether f can take how without waiting (and keeps it).
func tryFlock(t *testing.T, f *os.File, how int) bool {
	t.Helper()
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if err == nil {
		return true
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("flock: %v", err)
	}
	return false
}

func unlock(t *testing.T, f *os.File) {
	t.Helper()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
}

func TestSharedHoldsKeepOtherProcessesFromRestarting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka.lock")
	l := newRestartLock(path)
	other := otherProcess(t, path)
	t.Run("holders", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if err := l.acquire(t, shared, 5*time.Second); err != nil {
					t.Fatal(err)
				}
				if tryFlock(t, other, syscall.LOCK_EX) {
					t.Fatal("another process took the lock exclusively while this process holds Kafka")
				}
				if !tryFlock(t, other, syscall.LOCK_SH) {
					t.Fatal("another process could not share the lock")
				}
			})
		}
	})
	unlock(t, other)
	// Both holders ended: the file is unlocked.
	if !tryFlock(t, other, syscall.LOCK_EX) {
		t.Fatalf("after every holder ended, another process cannot lock exclusively (locked=%s, holds=%d)", l.locked, len(l.holds))
	}
}

func TestExclusiveWaitsForOtherProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka.lock")
	l := newRestartLock(path)
	other := otherProcess(t, path)
	if !tryFlock(t, other, syscall.LOCK_SH) {
		t.Fatal("cannot take a shared lock on a fresh file")
	}
	t.Run("refused while another process holds Kafka", func(t *testing.T) {
		err := l.acquire(t, exclusive, 150*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "another test process") {
			t.Fatalf("acquire exclusive = %v, want a wait failure naming another test process", err)
		}
	})
	unlock(t, other)
	t.Run("granted once it let go", func(t *testing.T) {
		if err := l.acquire(t, exclusive, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if tryFlock(t, other, syscall.LOCK_SH) {
			t.Fatal("another process took the lock while a restart holds it")
		}
	})
	if !tryFlock(t, other, syscall.LOCK_SH) {
		t.Fatal("the restart ended but the lock is still held")
	}
}

func TestExclusiveRefusedWhileAnotherTestOfThisProcessHoldsKafka(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka.lock")
	l := newRestartLock(path)
	if err := l.acquire(t, shared, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Run("fault test", func(t *testing.T) {
		err := l.acquire(t, exclusive, 100*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "other test(s) of this process") {
			t.Fatalf("acquire exclusive = %v, want a failure naming the other holder", err)
		}
	})
	if got := l.holds[t]; got != shared {
		t.Fatalf("the parent's hold = %s after the refused upgrade, want shared", got)
	}
}

func TestUpgradeOfOwnSharedHold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka.lock")
	l := newRestartLock(path)
	other := otherProcess(t, path)
	t.Run("test", func(t *testing.T) {
		if err := l.acquire(t, shared, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := l.acquire(t, exclusive, time.Second); err != nil {
			t.Fatalf("upgrade of the test's own shared hold: %v", err)
		}
		if tryFlock(t, other, syscall.LOCK_SH) {
			t.Fatal("another process shared the lock during an upgraded hold")
		}
		if err := l.acquire(t, shared, time.Second); err != nil || l.holds[t] != exclusive {
			t.Fatalf("asking for less than held: %v, hold %s, want exclusive kept", err, l.holds[t])
		}
	})
	if !tryFlock(t, other, syscall.LOCK_EX) {
		t.Fatal("the lock is still held after the test ended")
	}
}

// BenchmarkFlockCycle measures what a Kafka test pays for the lock when no
// one contends: one shared flock and one unlock.
func BenchmarkFlockCycle(b *testing.B) {
	l := newRestartLock(filepath.Join(b.TempDir(), "kafka.lock"))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.flock(shared, time.Second); err != nil {
			b.Fatal(err)
		}
		if err := l.flock(none, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
