package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/unpair/unpair/schema"
)

// sharedData returns the path of a file under ../shared/data, failing when
// it is missing and UNPAIR_TEST_REQUIRE=1, else skipping loudly.
func sharedData(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("UNPAIR_TEST_REQUIRE") == "1" {
			t.Fatalf("shared data missing: %v", err)
		}
		t.Skipf("NOT RUN: shared data missing (%v); set UNPAIR_TEST_REQUIRE=1 to fail instead", err)
	}
	return p
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const tinyLog = "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n" +
	"2\t10\t0\t0\t5\n" +
	"2\t11\t0\t1\t5\n" +
	"1\t12\t0\t1\t6\n" +
	"2\t13\t0\t1\t5\n"

const tinyQ = "item_id\tskill_index\n10\t3\n11\t3\n12\t4\n12\t3\n"

func loadTiny(t *testing.T, log string) *Dataset {
	t.Helper()
	dir := t.TempDir()
	ds, err := Load("tiny", []string{writeFile(t, dir, "log.csv", log)}, writeFile(t, dir, "q.tsv", tinyQ), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestReadAttemptsRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"empty", "", "empty file"},
		{"no header column", "user_id\titem_id\tcorrect\tskill_id\n", `lacks column "timestamp"`},
		{"short row", "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n1\t2\t3\n", "line 2: want 5"},
		{"not a number", "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n1\tx\t0\t1\t2\n", "line 2: item_id: must be a non-negative integer"},
		{"negative", "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n-1\t2\t0\t1\t2\n", "user_id: must be a non-negative"},
		{"correct 2", "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n1\t2\t0\t2\t2\n", "correct: must be 0 or 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadAttempts(strings.NewReader(tc.body), 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSynthesizedTimesInterleaveRoundRobin(t *testing.T) {
	ds := loadTiny(t, tinyLog)
	if !ds.Synthesized {
		t.Fatal("all-zero timestamps: want synthesized times")
	}
	var got []string
	for _, a := range ds.Attempts {
		got = append(got, time.Unix(0, a.Time).UTC().Format("15:04")+"/u"+itoa(a.User)+"/i"+itoa(a.Item))
	}
	want := "00:00/u1/i12 00:00/u2/i10 00:01/u2/i11 00:02/u2/i13"
	if strings.Join(got, " ") != want {
		t.Fatalf("order = %v, want %v", strings.Join(got, " "), want)
	}
	if d := ds.Attempts[2].Duration; d != int64(time.Minute) {
		t.Fatalf("duration of a learner's 2nd answer = %v, want the 1m gap", time.Duration(d))
	}
}

func TestDataTimestampsKeepLearnerOrder(t *testing.T) {
	ds := loadTiny(t, "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n"+
		"1\t10\t100\t0\t5\n1\t11\t5000\t1\t5\n2\t12\t50\t1\t6\n")
	if ds.Synthesized {
		t.Fatal("timestamps present: want no synthesis")
	}
	epoch := DefaultOptions().Epoch
	if got := time.Unix(0, ds.Attempts[0].Time).UTC(); !got.Equal(epoch.Add(50 * time.Second)) {
		t.Fatalf("first attempt at %v, want epoch+50s", got)
	}
	if d := time.Duration(ds.Attempts[2].Duration); d != MaxDuration {
		t.Fatalf("a 4900s gap gives duration %v, want the %v cap", d, MaxDuration)
	}
	by := ds.ByLearner()
	if len(by) != 2 || len(by[0]) != 2 || by[0][1].Index != 1 {
		t.Fatalf("ByLearner = %+v", by)
	}
}

func TestStatementMapping(t *testing.T) {
	ds := loadTiny(t, tinyLog)
	g := NewGenerator(ds, "", nil)
	var a *Attempt
	for i := range ds.Attempts {
		if ds.Attempts[i].Item == 12 {
			a = &ds.Attempts[i]
		}
	}
	b := g.Append(nil, a)
	if len(b) < 1000 || len(b) > 2048 {
		t.Errorf("statement is %d bytes, want a realistic 1-2 KB", len(b))
	}
	var st struct {
		ID        string
		Timestamp string
		Actor     struct {
			Account struct{ HomePage, Name string }
		}
		Verb   struct{ ID string }
		Object struct{ ID string }
		Result struct {
			Success bool
			Score   struct{ Scaled float64 }
		}
		Context struct {
			Registration      string
			ContextActivities struct{ Category []struct{ ID string } }
		}
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("statement is not JSON: %v\n%s", err, b)
	}
	home := DefaultHomePage("tiny")
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("actor homePage", st.Actor.Account.HomePage, home)
	check("actor name", st.Actor.Account.Name, "1")
	check("verb", st.Verb.ID, VerbAnswered)
	check("object", st.Object.ID, ContentID(home, 12))
	check("timestamp", st.Timestamp, "2009-09-01T00:00:00.000Z")
	if !st.Result.Success || st.Result.Score.Scaled != 1 {
		t.Errorf("result = %+v, want success with scaled 1", st.Result)
	}
	var cats []string
	for _, c := range st.Context.ContextActivities.Category {
		cats = append(cats, c.ID)
	}
	check("skills", strings.Join(cats, ","), SkillID(home, 3)+","+SkillID(home, 4))
	id := g.StatementID(a)
	if id != NewGenerator(ds, "", nil).StatementID(a) {
		t.Error("statement id is not deterministic")
	}
	if id[6]>>4 != 5 || id[8]>>6 != 2 {
		t.Errorf("id %x is not a version-5 RFC 4122 UUID", id)
	}
	if st.ID != string(appendUUID(nil, id)) {
		t.Errorf("id = %q, want %x", st.ID, id)
	}
}

func TestAppendEscaped(t *testing.T) {
	got := string(appendEscaped(nil, "a\"b\\c\n\xffé"))
	want := `a\"b\\c\u000a\ufffdé`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestRunNDJSON(t *testing.T) {
	ds := loadTiny(t, tinyLog)
	var out, progress bytes.Buffer
	sum, err := Run(context.Background(), NewGenerator(ds, "", nil), NewNDJSON(&out, nil), RunOptions{Batch: 3, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Statements != 4 || sum.Bytes < 4000 {
		t.Fatalf("summary = %+v, want 4 statements of over 1 KB", sum)
	}
	if !strings.Contains(progress.String(), "4/4 statements") {
		t.Errorf("final progress line = %q", progress.String())
	}
}

func TestRunNDJSONFlushedOnClose(t *testing.T) {
	ds := loadTiny(t, tinyLog)
	var out bytes.Buffer
	sink := NewNDJSON(&out, nil)
	if _, err := Run(context.Background(), NewGenerator(ds, "", nil), sink, RunOptions{Limit: 3}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (limit)", len(lines))
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("line %d is not JSON", i)
		}
	}
}

func TestRunKafkaKeysByLearner(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "xapi.statements"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ds := loadTiny(t, tinyLog)
	keyer := schema.NewLearnerKeyer([]byte("s3cret"))
	g := NewGenerator(ds, "", keyer)
	sink := NewKafka(c.ListenAddrs(), "xapi.statements", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Run(ctx, g, sink, RunOptions{Key: KeyLearner}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	wantKey := keyer.Key(schema.CanonicalAccount(DefaultHomePage("tiny"), "2"))
	got := map[string]int{}
	parts := map[int]bool{}
	for p := 0; p < 3; p++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.ListenAddrs(), Topic: "xapi.statements", Partition: p, MaxWait: 100 * time.Millisecond})
		conn, err := kafka.DialLeader(ctx, "tcp", c.ListenAddrs()[0], "xapi.statements", p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); i < last; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got[string(m.Key)]++
			if string(m.Key) == wantKey {
				parts[p] = true
			}
		}
		r.Close()
	}
	if got[wantKey] != 3 || len(got) != 2 {
		t.Fatalf("keys = %v, want learner 2's key %s three times and one other key", got, wantKey)
	}
	if len(parts) != 1 {
		t.Fatalf("learner 2's messages landed on partitions %v, want one", parts)
	}
}

func TestLoadRealDataset2017(t *testing.T) {
	dir := sharedData(t, "assistments-2017-challenge")
	ds, err := Load("assistments-2017-challenge", []string{filepath.Join(dir, "preprocessed_data_test.csv")},
		filepath.Join(dir, "q_matrix_item_skill.tsv"), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Attempts) != 90586 || ds.Synthesized {
		t.Fatalf("loaded %d attempts (synthesized=%v), want 90586 with data times", len(ds.Attempts), ds.Synthesized)
	}
	for i := 1; i < len(ds.Attempts); i++ {
		if ds.Attempts[i].Time < ds.Attempts[i-1].Time {
			t.Fatalf("attempt %d is out of time order", i)
		}
	}
	g := NewGenerator(ds, "", nil)
	var total int
	var buf []byte
	for i := range ds.Attempts[:2000] {
		buf = g.Append(buf[:0], &ds.Attempts[i])
		if !json.Valid(buf) {
			t.Fatalf("statement %d is not JSON: %s", i, buf)
		}
		total += len(buf)
	}
	if avg := total / 2000; avg < 1000 || avg > 2048 {
		t.Errorf("average statement is %d bytes, want 1-2 KB", avg)
	}
}

func BenchmarkAppend(b *testing.B) {
	ds := &Dataset{Name: "bench", Files: []string{"f.csv"}, Skills: map[int64][]int64{7: {1, 2}}}
	a := Attempt{User: 123, Item: 7, SkillSet: 3, Correct: true, Time: time.Now().UnixNano(), Duration: int64(42 * time.Second), Line: 99}
	g := NewGenerator(ds, "", nil)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = g.Append(buf[:0], &a)
	}
	b.SetBytes(int64(len(buf)))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
