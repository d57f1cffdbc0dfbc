package shard

import (
	"context"
	"fmt"
	"testing"

	"github.com/unpair/unpair/processor/engine"
	"github.com/unpair/unpair/schema"
)

// TestIdleLearnersAreTrimmedOnce: a learner changed in every batch is
// never trimmed; one left idle is trimmed exactly once, at the
// TrimAfter-th release after the one that cleaned it (its held size and
// the shard's byte count shrink), and again once idle after a later
// change; one changed again while queued is trimmed TrimAfter releases
// after its last change, at the latest 2 x TrimAfter; the queue holds
// one entry per learner at most; the states are those of a clean pass;
// with a negative TrimAfter nothing is trimmed.
func TestIdleLearnersAreTrimmedOnce(t *testing.T) {
	ctx := context.Background()
	const active, idle, twice = "active", "idle", "twice"
	seq := 0
	input := func(learner, content string) Input {
		seq++
		var u schema.UUID
		u[0], u[1], u[2] = byte(seq), byte(seq>>8), 7
		return Input{Evidence: schema.Evidence{ID: u, Learner: learner, Content: content, Kind: schema.KindAttempt,
			Time: (t0 + int64(seq)*1000) * 1e6, HasSuccess: true, Success: seq%3 > 0},
			Source: engine.Source{Partition: 0, Offset: int64(seq)}}
	}
	// rounds[i] is the batch of round i: the active learner answers in
	// every round, the idle one in rounds 0 and 5 only (40 contents, so
	// that its slices carry growth slack).
	var rounds [][]Input
	for i := range 12 {
		var in []Input
		for k := range 6 {
			in = append(in, input(active, fmt.Sprintf("x/%d", 6*i+k)))
		}
		if i == 0 || i == 5 {
			for k := range 40 {
				in = append(in, input(idle, fmt.Sprintf("y/%d/%d", i, k)))
			}
		}
		if i < 2 {
			for k := range 30 {
				in = append(in, input(twice, fmt.Sprintf("z/%d/%d", i, k)))
			}
		}
		rounds = append(rounds, in)
	}
	run := func(trimAfter int, wantTrims []uint64) {
		t.Helper()
		a := newAgg(t, Config{Shards: 1, TrimAfter: trimAfter})
		s := a.shards[0]
		sizes := map[string]int{}
		for i, in := range rounds {
			if err := a.Submit(ctx, in); err != nil {
				t.Fatal(err)
			}
			b, err := a.Flush(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Release(b); err != nil {
				t.Fatal(err)
			}
			st := a.Stats()
			if st.Trims != wantTrims[i] {
				t.Fatalf("TrimAfter %d, after round %d: %d learners trimmed, want %d", trimAfter, i, st.Trims, wantTrims[i])
			}
			shrunk := false
			for k, h := range s.learners {
				if h.size != h.l.Size() {
					t.Fatalf("round %d: %s: held size %d, learner's %d", i, k, h.size, h.l.Size())
				}
				shrunk = shrunk || h.size < sizes[k]
				sizes[k] = h.size
			}
			if i > 0 && st.Trims > wantTrims[i-1] && !shrunk {
				t.Fatalf("round %d: a learner trimmed, none shrank", i)
			}
			if len(s.cooling) > len(s.learners) {
				t.Fatalf("round %d: %d queued for the trim, %d learners", i, len(s.cooling), len(s.learners))
			}
			total := 0
			for _, h := range s.learners {
				total += h.size
			}
			if st.Bytes != int64(total) {
				t.Fatalf("round %d: %d bytes counted, learners hold %d", i, st.Bytes, total)
			}
		}
		want := cleanPass(t, [][]Input{append([]Input(nil), flatten(rounds)...)})
		for k, h := range s.learners {
			got, _ := h.l.MarshalBinary()
			if string(got) != want[k] {
				t.Fatalf("TrimAfter %d: learner %s: state differs from a clean pass", trimAfter, k)
			}
		}
	}
	// Releases are numbered from 1: round i's is i+1. The idle learner is
	// cleaned by releases 1 and 6, and trimmed TrimAfter releases later;
	// the other one is queued by release 1, cleaned again by release 2,
	// found changed when its entry comes due (release 1+TrimAfter),
	// queued again and trimmed at release 2+TrimAfter or later: 5 for 2
	// (queued again at 3, due at 5), 3 for 1.
	run(2, []uint64{0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3})
	run(1, []uint64{0, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3})
	run(-1, make([]uint64, len(rounds)))
}

func flatten(rounds [][]Input) []Input {
	var out []Input
	for _, in := range rounds {
		out = append(out, in...)
	}
	return out
}
