package engagement

import (
	"bufio"
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/unpair/unpair/schema"
)

// assistments2017 is the shared ASSISTments 2017 log, read in place.
const assistments2017 = "../../../shared/data/assistments-2017-challenge/preprocessed_data_test.csv"

type assistRow struct {
	user, item, ts int64
	correct        bool
	line           int
}

func readAssistments(t *testing.T) []assistRow {
	t.Helper()
	f, err := os.Open(filepath.FromSlash(assistments2017))
	if err != nil {
		if os.Getenv("UNPAIR_TEST_REQUIRE") == "1" {
			t.Fatalf("ASSISTments 2017 log is required (UNPAIR_TEST_REQUIRE=1): %v", err)
		}
		t.Skipf("NOT RUN: ASSISTments 2017 log not found: %v", err)
	}
	defer f.Close()
	var rows []assistRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if line == 1 {
			continue // header: user_id item_id timestamp correct skill_id
		}
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 5 {
			t.Fatalf("line %d: %d fields, want 5", line, len(fs))
		}
		var n [4]int64
		for i := range n {
			if n[i], err = strconv.ParseInt(fs[i], 10, 64); err != nil {
				t.Fatalf("line %d field %d: %v", line, i+1, err)
			}
		}
		rows = append(rows, assistRow{user: n[0], item: n[1], ts: n[2], correct: n[3] == 1, line: line})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestAssistmentsReplayFigures replays the ASSISTments 2017 log through
// Aggregator and Writer, split over four partitions by learner hash, with
// one partition crashing twice (its tail redelivered) and one retrying
// writes, and checks starts, completions, attempts and unique learners per
// content against counts taken straight from the file.
//
// Mapping (docs/engagement.md): each row is one answer to a problem; a
// correct row is a completion ("passed": the learner solved it), a wrong
// one an attempt ("failed"); both are scored attempts. So per problem:
// starts = learners with a row, completions = learners with a correct row,
// attempts = rows, unique learners = learners with a row.
func TestAssistmentsReplayFigures(t *testing.T) {
	rows := readAssistments(t)
	if len(rows) != 90586 {
		t.Fatalf("read %d rows, SOURCE.md says 90,586", len(rows))
	}
	// The log's timestamps are seconds from an unknown origin over 976
	// days; place them so the last one is about now.
	var maxTS int64
	for _, r := range rows {
		maxTS = max(maxTS, r.ts)
	}
	origin := time.Now().Add(-time.Duration(maxTS) * time.Second).Add(-time.Hour)
	slices.SortStableFunc(rows, func(a, b assistRow) int {
		return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.user, b.user), cmp.Compare(a.line, b.line))
	})

	keyer := schema.NewLearnerKeyer([]byte("assistments test"))
	const partitions = 4
	parts := make([][]schema.Evidence, partitions)
	type expect struct {
		learners, completers map[int64]bool
		attempts             int64
	}
	want := map[string]*expect{}
	for _, r := range rows {
		learner := keyer.Key(schema.CanonicalAccount("https://assistments.org", strconv.FormatInt(r.user, 10)))
		content := "https://assistments.org/problem/" + strconv.FormatInt(r.item, 10)
		ev := schema.Evidence{
			Learner: learner, Content: content,
			Time:       origin.Add(time.Duration(r.ts) * time.Second).UnixNano(),
			Kind:       schema.KindAttempt,
			Verb:       "http://adlnet.gov/expapi/verbs/failed",
			HasSuccess: true, Success: r.correct,
		}
		if r.correct {
			ev.Kind, ev.Verb = schema.KindCompletion, "http://adlnet.gov/expapi/verbs/passed"
		}
		p := xxhash.Sum64String(learner) % partitions
		parts[p] = append(parts[p], ev)

		e := want[content]
		if e == nil {
			e = &expect{learners: map[int64]bool{}, completers: map[int64]bool{}}
			want[content] = e
		}
		e.learners[r.user] = true
		if r.correct {
			e.completers[r.user] = true
		}
		e.attempts++
	}

	_, c := newMiniredis(t)
	w := NewWriter(c, WithRetention(4*365*24*time.Hour))
	for p, evs := range parts {
		if len(evs) < 1000 {
			t.Fatalf("partition %d got only %d statements", p, len(evs))
		}
		s := newPartitionSim(t, w, DefaultRule(), int32(p))
		var crashes map[int]crash
		switch p {
		case 1:
			crashes = map[int]crash{3: retryWrite, 10: retryWrite}
		case 2: // the tail since the last commit is redelivered twice
			crashes = map[int]crash{4: crashAfterBatch, 9: crashAfterLearner, 15: crashBeforeWrite}
		}
		s.run(evs, 997, crashes)
	}

	// Sum every partition's partials over all days.
	ctx := context.Background()
	keys, err := c.Keys(ctx, "unpair:v1:{e:*}:d:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*vec{}
	for _, k := range keys {
		for content, s := range c.HGetAll(ctx, k).Val() {
			v := got[content]
			if v == nil {
				v = new(vec)
				got[content] = v
			}
			if err := addStored(v, s); err != nil {
				t.Fatalf("%s %s: %v", k, content, err)
			}
		}
	}
	if len(got) != len(want) || len(want) != 2625 {
		t.Fatalf("figures for %d contents, file has %d (SOURCE.md: 2,625)", len(got), len(want))
	}
	for content, e := range want {
		v := got[content]
		if v == nil {
			t.Errorf("%s: no figures", content)
			continue
		}
		check := func(name string, got, want int64) {
			if got != want {
				t.Errorf("%s: %s = %d, want %d", content, name, got, want)
			}
		}
		check("starts", v[fStarts], int64(len(e.learners)))
		check("completions", v[fCompletions], int64(len(e.completers)))
		check("attempts", v[fAttempts], e.attempts)
		check("launches", v[fLaunches], 0)
		check("unique learners", v[fActive], int64(len(e.learners)))
		check("reach", v[fReach], int64(len(e.learners)))
	}
	t.Logf("%d contents, %d statements in %d partitions: starts, completions, attempts, unique learners exact",
		len(want), len(rows), partitions)
}
