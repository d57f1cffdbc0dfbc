package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/unpair/unpair/processor/decision"
	"github.com/unpair/unpair/schema"
)

// TestArrayMessageStatementsShareAnOffset: with re-keying off, the
// statements of one JSON-array message share the message's offset and
// differ by index. Every one of them applies; a redelivery of the message
// applies none; the next message applies.
func TestArrayMessageStatementsShareAnOffset(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	msg := make([]schema.Evidence, 6)
	for i := range msg {
		msg[i] = answer([]string{"q/frac1", "q/frac2", "q/easy"}[i%3], i != 4, day0+int64(i)*1000)
	}
	apply := func(what string, evs []schema.Evidence, off int64, want Outcome) {
		t.Helper()
		for i := range evs {
			if got := e.Apply(l, &evs[i], Source{Partition: 2, Offset: off, Index: int32(i)}); got != want {
				t.Fatalf("%s: statement %d at offset %d: %v, want %v", what, i, off, got, want)
			}
		}
	}
	apply("first delivery", msg, 7, Applied)
	if got := l.Offsets(); len(got) != 1 || got[0] != (Source{Partition: 2, Offset: 7, Index: 5}) {
		t.Fatalf("offsets %v, want partition 2 at offset 7 index 5", got)
	}
	before := dump(l)
	apply("redelivery", msg, 7, Stale)
	apply("an older message", msg[:2], 6, Stale)
	if got := dump(l); got != before {
		t.Fatalf("a redelivery changed the state:\n%s\nwant\n%s", got, before)
	}
	// A redelivery with fresh statement ids (so that the duplicate-id
	// window cannot be what refuses them) is refused by position alone.
	fresh := make([]schema.Evidence, len(msg))
	for i := range msg {
		fresh[i] = msg[i]
		fresh[i].ID = newID()
	}
	apply("redelivery with other ids", fresh, 7, Stale)
	next := []schema.Evidence{answer("q/frac1", true, day0+10_000)}
	apply("the next message", next, 8, Applied)

	// Attempts counted once each: 4 answers on q/frac1 (3 in the message,
	// 1 after), fractions skill 7.
	if d, _ := l.Decision("q/frac1"); d.Evidence.Attempts != 7 {
		t.Fatalf("fractions attempts %d, want 7 (6 in the message and 1 after, each once)", d.Evidence.Attempts)
	}
}

// TestEventIDsOfOneMessageDiffer: two statements of one message deciding
// the same pair twice make two events with distinct ids; a statement at
// index 0 keeps the id form of a single-statement message.
func TestEventIDsOfOneMessageDiffer(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	dislike := schema.Evidence{ID: newID(), Content: "q/frac1", Kind: schema.KindDislike, Time: day0 * 1e6}
	rating := schema.Evidence{ID: newID(), Content: "q/frac1", Kind: schema.KindRating, Time: (day0 + 1000) * 1e6, HasScore: true, Scaled: 1}
	for i, ev := range []*schema.Evidence{&dislike, &rating} {
		if o := e.Apply(l, ev, Source{Partition: 1, Offset: 40, Index: int32(i)}); o != Applied {
			t.Fatalf("statement %d: %v", i, o)
		}
	}
	var ch Changes
	l.Changes(&ch)
	if len(ch.Events) != 2 || ch.Events[0].Kind != decision.EventSuppressed || ch.Events[1].Kind != decision.EventUnsuppressed {
		t.Fatalf("events %+v, want suppressed then unsuppressed", ch.Events)
	}
	a, b := ch.Events[0].ID, ch.Events[1].ID
	if a == b || !strings.HasSuffix(a, "/1/40") || !strings.HasSuffix(b, "/1/40/i1") {
		t.Fatalf("event ids %q and %q: want distinct, .../1/40 and .../1/40/i1", a, b)
	}
}

// rekeyed is one statement as the re-key stage forwards it: its by-learner
// position and its origin.
type rekeyed struct {
	ev     schema.Evidence
	origin Origin
}

// TestReplayedRekeyBatchIsStale: a re-key stage that produces a batch twice
// (a retry, a crash before committing its source offsets) gives the copies
// new by-learner offsets; with more statements of the learner in between
// than the duplicate-id window holds, only the origin position can tell
// them apart. Every copy is stale and the state is that of one pass.
func TestReplayedRekeyBatchIsStale(t *testing.T) {
	for _, model := range allModels {
		t.Run(string(model), func(t *testing.T) {
			e := modelEngine(t, model)
			r := rand.New(rand.NewPCG(3, uint64(len(model))))
			l := e.NewLearner("L")
			clean := e.NewLearner("L") // the same statements, each once
			var byLearner int64
			at := day0
			var originOff [2]int64
			gen := func(n int) []rekeyed {
				out := make([]rekeyed, 0, n)
				for len(out) < n {
					at += int64(r.IntN(3600)+1) * 1000
					ev := siblingEvidence(r, at, nil)
					ev.Learner = "L"
					p := r.IntN(2) // two origin partitions, interleaved
					// sometimes several statements of one origin message
					k := 1 + r.IntN(3)
					for i := 0; i < k && len(out) < n; i++ {
						if i > 0 {
							at += 1000
							ev = siblingEvidence(r, at, nil)
							ev.Learner = "L"
						}
						out = append(out, rekeyed{ev, Origin{Partition: int32(10 + p), Offset: originOff[p], Index: int32(i), Valid: true}})
					}
					originOff[p] += 1 + int64(r.IntN(5)) // other learners' messages between
				}
				return out
			}
			feed := func(what string, batch []rekeyed, want Outcome, into ...*Learner) {
				t.Helper()
				for i := range batch {
					byLearner++
					src := Source{Partition: 0, Offset: byLearner, Origin: batch[i].origin}
					for _, x := range into {
						if got := e.Apply(x, &batch[i].ev, src); (want == Stale) != (got == Stale) {
							t.Fatalf("%s: statement %d (origin %+v): %v, want %v", what, i, batch[i].origin, got, want)
						}
					}
				}
			}
			batch := gen(40)
			feed("first copy", batch, Applied, l, clean)
			feed("statements after the batch", gen(25), Applied, l, clean)
			before := dump(l)
			feed("the re-produced batch", batch, Stale, l)
			if got := dump(l); got != before {
				t.Fatalf("the re-produced batch changed the state")
			}
			// A re-produced prefix of one origin partition only, after a
			// restart from the stored state.
			data, err := l.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			l2, err := e.LoadLearner("L", data)
			if err != nil {
				t.Fatal(err)
			}
			var prefix []rekeyed
			for _, x := range batch[:30] {
				if x.origin.Partition == 11 {
					prefix = append(prefix, x)
				}
			}
			feed("a prefix re-produced after a restart", prefix, Stale, l2)
			tail := gen(10)
			feed("new statements", tail, Applied, l, l2, clean)
			if dump(l) != dump(clean) || dump(l2) != dump(clean) {
				t.Fatalf("state differs from one clean pass")
			}
			if fmt.Sprint(l.Origins()) != fmt.Sprint(clean.Origins()) || len(l.Origins()) != 2 {
				t.Fatalf("origins %v, clean pass %v: want one position per origin partition", l.Origins(), clean.Origins())
			}
		})
	}
}

// TestOriginGuardNeedsBothPositions: a statement stale by its by-learner
// position is stale whatever its origin, and one stale by origin records
// neither position.
func TestOriginGuardNeedsBothPositions(t *testing.T) {
	e := newEngine(t, nil)
	l := e.NewLearner("L")
	f := func(off int64, origin Origin, want Outcome) {
		t.Helper()
		ev := answer("q/frac1", true, day0+off*1000)
		if got := e.Apply(l, &ev, Source{Partition: 0, Offset: off, Origin: origin}); got != want {
			t.Fatalf("offset %d origin %+v: %v, want %v", off, origin, got, want)
		}
	}
	o := func(p int32, off int64, i int32) Origin {
		return Origin{Partition: p, Offset: off, Index: i, Valid: true}
	}
	f(5, o(3, 100, 0), Applied)
	f(5, o(3, 200, 0), Stale) // by-learner position already applied
	f(6, o(3, 100, 0), Stale) // origin already applied
	if got := l.Offsets(); got[0].Offset != 5 {
		t.Fatalf("a statement stale by origin moved the by-learner offset: %v", got)
	}
	f(6, o(3, 100, 1), Applied)                     // next statement of the same origin message
	f(7, o(4, 1, 0), Applied)                       // another origin partition
	f(8, Origin{Partition: 3, Offset: 50}, Applied) // no valid origin: by-learner guard only
	f(9, o(3, 100, 1), Stale)
	if got := fmt.Sprint(l.Origins()); got != fmt.Sprint([]Origin{o(3, 100, 1), o(4, 1, 0)}) {
		t.Fatalf("origins %s", got)
	}
}

// TestPositionsSurviveMarshal: indexes and origin positions round-trip,
// and the encoder matches the reference one.
func TestPositionsSurviveMarshal(t *testing.T) {
	e := modelEngine(t, ModelElo)
	l := e.NewLearner("L")
	ev := answer("a/mid", true, day0)
	e.Apply(l, &ev, Source{Partition: 4, Offset: 9, Index: 3, Origin: Origin{Partition: 7, Offset: 1 << 40, Index: 2, Valid: true}})
	ev = answer("a/easy", true, day0+1000)
	e.Apply(l, &ev, Source{Partition: 1, Offset: 2, Origin: Origin{Partition: -1, Offset: 0, Valid: true}})
	data, _ := l.MarshalBinary()
	if want := l.appendBinaryReference(nil); !bytes.Equal(data, want) {
		t.Fatalf("AppendBinary %x, reference %x", data, want)
	}
	l2, err := e.LoadLearner("L", data)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(l2.Offsets(), l2.Origins()) != fmt.Sprint(l.Offsets(), l.Origins()) || len(l2.Origins()) != 2 {
		t.Fatalf("after load %v %v, want %v %v", l2.Offsets(), l2.Origins(), l.Offsets(), l.Origins())
	}
	ev = answer("a/hard", true, day0+2000)
	if o := e.Apply(l2, &ev, Source{Partition: 4, Offset: 9, Index: 3}); o != Stale {
		t.Fatalf("applied position after load: %v, want stale", o)
	}
	if o := e.Apply(l2, &ev, Source{Partition: 4, Offset: 10, Origin: Origin{Partition: 7, Offset: 1 << 40, Index: 2, Valid: true}}); o != Stale {
		t.Fatalf("applied origin after load: %v, want stale", o)
	}
	if o := e.Apply(l2, &ev, Source{Partition: 4, Offset: 9, Index: 4}); o != Applied {
		t.Fatalf("next index after load: %v, want applied", o)
	}
}

var setField = regexp.MustCompile(`set:\d+`)

// TestVersion3StateLoads: a state written by the version 3 encoder (commit
// ea816b2, testdata/state-v3.bin, with what that code reported about it in
// state-v3.txt) loads with the same model state, offsets (index 0) and
// decisions, and no origin positions; random states encoded as version 3
// load as their version 4 selves with index 0.
func TestVersion3StateLoads(t *testing.T) {
	data, err := os.ReadFile("testdata/state-v3.bin")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/state-v3.txt")
	if err != nil {
		t.Fatal(err)
	}
	e := modelEngine(t, ModelElo)
	e.contentID("an/unrelated/content") // engine-local ids differ from the writer's
	e.skillSet([]string{"B", "C"})
	l, err := e.LoadLearner("L-v3", data)
	if err != nil {
		t.Fatal(err)
	}
	got := dump(l) + fmt.Sprintf("offsets %v\n", l.Offsets())
	for _, d := range l.Decisions(nil) {
		got += fmt.Sprintf("%+v\n", d)
	}
	wantS := string(want)
	norm := func(s string) string { // set ids and item order are engine-local
		lines := strings.Split(setField.ReplaceAllString(s, "set:_"), "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	if norm(got) != norm(wantS) {
		t.Fatalf("version 3 state loads as\n%s\nwant\n%s", got, wantS)
	}
	if l.Origins() != nil {
		t.Fatalf("origins %v, want none", l.Origins())
	}

	r := rand.New(rand.NewPCG(8, 8))
	for trial := range 50 {
		x := e.NewLearner(fmt.Sprintf("R%d", trial))
		var ids []schema.UUID
		var off [2]int64
		at := day0
		for range 10 + r.IntN(60) {
			at = randomLearnerStep(r, e, x, at, &ids, &off)
		}
		y, err := e.LoadLearner(x.Key(), x.appendBinaryReferenceVersion(nil, 3))
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		a, _ := x.MarshalBinary()
		b, _ := y.MarshalBinary()
		if !bytes.Equal(a, b) {
			t.Fatalf("trial %d: version 3 state loads as another state", trial)
		}
	}
}
