package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
)

// testPrefix returns a prefix no other test uses, so tests can share a server.
func testPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "utest-" + hex.EncodeToString(b[:])
}

func newTestStore(t testing.TB, rdb redis.UniversalClient, ttl time.Duration) *Store {
	t.Helper()
	s, err := New(rdb, Options{Prefix: testPrefix(t), TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mastered(content string, until int64) decision.Decision {
	return decision.Decision{Content: content, Suppressed: true, Reason: decision.Mastered, Explanation: "You answered it right 4 times in a row.", Until: until,
		Evidence: decision.Evidence{Attempts: 4, Correct: 4, PKnown: 0.96, Model: "bkt"}}
}

// snapshot is everything stored about one learner, read with raw commands.
type snapshot struct {
	Decisions  map[string]string
	State      string
	HasState   bool
	Offsets    map[string]string
	Engagement map[string]string
	Skills     map[string]string
}

func snap(t *testing.T, s *Store, learner string) snapshot {
	t.Helper()
	ctx := context.Background()
	k := s.schema.Keys(learner)
	var sn snapshot
	var err error
	if sn.Decisions, err = s.rdb.HGetAll(ctx, k.Decisions).Result(); err != nil {
		t.Fatal(err)
	}
	if sn.Offsets, err = s.rdb.HGetAll(ctx, k.Offsets).Result(); err != nil {
		t.Fatal(err)
	}
	if sn.Engagement, err = s.rdb.HGetAll(ctx, k.Engagement).Result(); err != nil {
		t.Fatal(err)
	}
	if sn.Skills, err = s.rdb.HGetAll(ctx, k.Skills).Result(); err != nil {
		t.Fatal(err)
	}
	st, err := s.rdb.Get(ctx, k.State).Result()
	switch {
	case err == redis.Nil:
	case err != nil:
		t.Fatal(err)
	default:
		sn.State, sn.HasState = st, true
	}
	return sn
}

func write(t *testing.T, s *Store, batch ...LearnerWrite) Result {
	t.Helper()
	res, err := s.WriteBatch(context.Background(), batch)
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	return res
}

func wantResult(t *testing.T, res Result, applied int, stale ...string) {
	t.Helper()
	if res.Applied != applied || strings.Join(res.Stale, ",") != strings.Join(stale, ",") {
		t.Fatalf("result %+v, want applied %d stale %v", res, applied, stale)
	}
}

// suite runs the behaviour every Redis deployment must show (miniredis, a
// real server, a real cluster).
func suite(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()

	t.Run("apply and read back", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		res := write(t, s,
			LearnerWrite{Learner: "alice", Partition: 0, Offset: 7, State: []byte("state-a\x00\xff"),
				Decisions:  []decision.Decision{mastered("q1", 0), {Content: "q2", Reason: decision.WrongAnswer}},
				Engagement: []Field{{"last_seen", "1700000000000"}, {"last_verb", "answered"}}},
			LearnerWrite{Learner: "bob", Partition: 3, Offset: 0, State: []byte{}},
		)
		wantResult(t, res, 2)
		a := snap(t, s, "alice")
		if a.State != "state-a\x00\xff" || a.Offsets["0"] != "7" || len(a.Offsets) != 1 {
			t.Fatalf("alice state/offsets = %q %v", a.State, a.Offsets)
		}
		if !strings.HasPrefix(a.Decisions["q1"], "1|mastered|0|{") || !strings.HasPrefix(a.Decisions["q2"], "0|wrong_answer|0|{") {
			t.Fatalf("alice decisions = %v", a.Decisions)
		}
		if a.Engagement["last_seen"] != "1700000000000" || a.Engagement["last_verb"] != "answered" {
			t.Fatalf("alice engagement = %v", a.Engagement)
		}
		b := snap(t, s, "bob")
		if !b.HasState || b.State != "" || b.Offsets["3"] != "0" || len(b.Decisions) != 0 {
			t.Fatalf("bob = %+v", b)
		}
	})

	t.Run("same batch twice is applied once", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		batch := []LearnerWrite{
			{Learner: "l1", Partition: 1, Offset: 10, State: []byte("s10"), Decisions: []decision.Decision{mastered("c", 0)}},
			{Learner: "l2", Partition: 1, Offset: 11, State: []byte("t11")},
		}
		wantResult(t, write(t, s, batch...), 2)
		before := snap(t, s, "l1")
		wantResult(t, write(t, s, batch...), 0, "l1", "l2")
		if after := snap(t, s, "l1"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("second pass changed l1: %+v -> %+v", before, after)
		}
	})

	t.Run("stale offset skipped, partitions independent", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		wantResult(t, write(t, s, LearnerWrite{Learner: "l", Partition: 0, Offset: 10, State: []byte("A"), Decisions: []decision.Decision{mastered("c", 0)}}), 1)
		wantResult(t, write(t, s, LearnerWrite{Learner: "l", Partition: 0, Offset: 5, State: []byte("B"), Decisions: []decision.Decision{{Content: "c", Reason: decision.WrongAnswer}}}), 0, "l")
		if sn := snap(t, s, "l"); sn.State != "A" || !strings.HasPrefix(sn.Decisions["c"], "1|") {
			t.Fatalf("stale write changed state: %+v", sn)
		}
		wantResult(t, write(t, s, LearnerWrite{Learner: "l", Partition: 2, Offset: 3, State: []byte("C")}), 1)
		wantResult(t, write(t, s, LearnerWrite{Learner: "l", Partition: 0, Offset: 11, State: []byte("D")}), 1)
		if sn := snap(t, s, "l"); sn.State != "D" || sn.Offsets["0"] != "11" || sn.Offsets["2"] != "3" {
			t.Fatalf("after newer writes: %+v", sn)
		}
	})

	t.Run("refresh applies at the stored offset, not below", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		f := func(off int64, refresh bool, state string, applied bool) {
			t.Helper()
			res := write(t, s, LearnerWrite{Learner: "l", Partition: 1, Offset: off, Refresh: refresh, State: []byte(state),
				Decisions: []decision.Decision{{Content: "c", Suppressed: !refresh, Reason: decision.ReviewDue}}})
			if (res.Applied == 1) != applied {
				t.Fatalf("offset %d refresh %v: %+v, want applied=%v", off, refresh, res, applied)
			}
		}
		f(20, true, "first", true) // nothing stored yet
		f(20, false, "same", false)
		f(20, true, "sweep", true)
		f(19, true, "old owner", false)
		f(21, false, "next", true)
		f(21, true, "sweep2", true)
		if sn := snap(t, s, "l"); sn.State != "sweep2" || sn.Offsets["1"] != "21" || !strings.HasPrefix(sn.Decisions["c"], "0|review_due|") {
			t.Fatalf("%+v", sn)
		}
	})

	t.Run("offsets compared exactly", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		f := func(off int64, applied bool) {
			t.Helper()
			res := write(t, s, LearnerWrite{Learner: "l", Offset: off, State: []byte(strconv.FormatInt(off, 10))})
			if (res.Applied == 1) != applied {
				t.Fatalf("offset %d: result %+v, want applied=%v", off, res, applied)
			}
		}
		f(99, true)
		f(100, true) // longer string, larger number
		f(99, false)
		f(1<<53+1, true)
		f(1<<53, false) // equal as float64, smaller as integer
		f(1<<53+1, false)
		f(1<<53+2, true)
		f(1<<62, true)
	})

	t.Run("skills written with decisions under the offset guard", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		f := func(off int64, refresh bool, frac string, applied bool) {
			t.Helper()
			res := write(t, s, LearnerWrite{Learner: "l", Partition: 2, Offset: off, Refresh: refresh,
				Decisions: []decision.Decision{mastered("q"+frac, 0)},
				Skills:    []Field{{"fractions", frac}, {"decimals", "d" + frac}}})
			if (res.Applied == 1) != applied {
				t.Fatalf("offset %d: %+v, want applied=%v", off, res, applied)
			}
		}
		f(5, false, "A", true)
		sn := snap(t, s, "l")
		if sn.Skills["fractions"] != "A" || sn.Skills["decimals"] != "dA" || len(sn.Skills) != 2 || sn.Decisions["qA"] == "" {
			t.Fatalf("after first write: %+v", sn)
		}
		f(5, false, "B", false) // redelivery
		f(4, false, "C", false) // older
		f(4, true, "D", false)  // a former owner's refresh
		if sn := snap(t, s, "l"); sn.Skills["fractions"] != "A" || sn.Skills["decimals"] != "dA" || len(sn.Decisions) != 1 {
			t.Fatalf("stale write changed skills or decisions: %+v", sn)
		}
		f(5, true, "E", true) // a sweep at the same offset
		f(6, false, "F", true)
		// Absolute values replace; skills not in the write stay.
		write(t, s, LearnerWrite{Learner: "l", Partition: 2, Offset: 7, Skills: []Field{{"geometry", "g"}}})
		if sn := snap(t, s, "l"); sn.Skills["fractions"] != "F" || sn.Skills["decimals"] != "dF" || sn.Skills["geometry"] != "g" || sn.Offsets["2"] != "7" {
			t.Fatalf("after newer writes: %+v", sn)
		}
	})

	t.Run("failed script leaves skills for a retry", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		k := s.schema.Keys("l")
		if err := rdb.Set(ctx, k.Skills, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		w := LearnerWrite{Learner: "l", Offset: 3, Decisions: []decision.Decision{mastered("c", 0)}, Skills: []Field{{"fractions", "v"}}}
		if _, err := s.WriteBatch(ctx, []LearnerWrite{w}); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("err = %v, want WRONGTYPE", err)
		}
		if o, _ := rdb.HGetAll(ctx, k.Offsets).Result(); len(o) != 0 {
			t.Fatalf("offset advanced by a failed script: %v", o)
		}
		if err := rdb.Del(ctx, k.Skills).Err(); err != nil {
			t.Fatal(err)
		}
		wantResult(t, write(t, s, w), 1)
		if sn := snap(t, s, "l"); sn.Skills["fractions"] != "v" || sn.Offsets["0"] != "3" {
			t.Fatalf("retry: %+v", sn)
		}
	})

	t.Run("nil state keeps state", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		write(t, s, LearnerWrite{Learner: "l", Offset: 1, State: []byte("keep")})
		write(t, s, LearnerWrite{Learner: "l", Offset: 2, Decisions: []decision.Decision{mastered("c", 0)}})
		if sn := snap(t, s, "l"); sn.State != "keep" || len(sn.Decisions) != 1 {
			t.Fatalf("%+v", sn)
		}
	})

	t.Run("many decisions in one write", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		var ds []decision.Decision
		for i := range 1001 {
			ds = append(ds, mastered(fmt.Sprintf("content-%d", i), 0))
		}
		write(t, s, LearnerWrite{Learner: "l", Offset: 1, Decisions: ds, Engagement: []Field{{"n", "1"}}})
		if n, err := rdb.HLen(ctx, s.schema.Keys("l").Decisions).Result(); err != nil || n != 1001 {
			t.Fatalf("HLEN = %d, %v; want 1001", n, err)
		}
	})

	t.Run("NOSCRIPT falls back to EVAL", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if scriptCached(t, rdb) {
			t.Fatal("script still cached after SCRIPT FLUSH")
		}
		wantResult(t, write(t, s, LearnerWrite{Learner: "l", Offset: 1, State: []byte("x")}), 1)
		// EVAL cached the script again: the next EVALSHA runs directly.
		if !scriptCached(t, rdb) {
			t.Fatal("script not cached after the EVAL fallback")
		}
		wantResult(t, write(t, s, LearnerWrite{Learner: "l", Offset: 1, State: []byte("y")}), 0, "l")
	})

	t.Run("invalid batch writes nothing", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		_, err := s.WriteBatch(ctx, []LearnerWrite{
			{Learner: "good", Offset: 1, State: []byte("x")},
			{Learner: "alice@example.com", Offset: 1},
		})
		if err == nil || !strings.Contains(err.Error(), "write 1 of 2") || strings.Contains(err.Error(), "alice@") {
			t.Fatalf("err = %v", err)
		}
		if sn := snap(t, s, "good"); sn.HasState {
			t.Fatal("valid learner of an invalid batch was written")
		}
		for _, w := range []LearnerWrite{
			{Learner: "l", Offset: -1},
			{Learner: "l", Partition: -1},
			{Learner: "l", Decisions: []decision.Decision{{Reason: decision.Mastered}}},
			{Learner: "l", Engagement: []Field{{"", "v"}}},
			{Learner: "l", Skills: []Field{{"fractions", "1|streak|3|1|3|3|3|3|0|0"}, {"", "v"}}},
		} {
			if _, err := s.WriteBatch(ctx, []LearnerWrite{w}); err == nil {
				t.Errorf("WriteBatch(%+v): no error", w)
			}
		}
	})

	t.Run("failed script leaves offset for a retry", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		k := s.schema.Keys("broken")
		if err := rdb.Set(ctx, k.Engagement, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		batch := []LearnerWrite{
			{Learner: "fine", Offset: 4, State: []byte("f")},
			{Learner: "broken", Offset: 4, State: []byte("b"), Engagement: []Field{{"x", "1"}}},
		}
		res, err := s.WriteBatch(ctx, batch)
		if err == nil || !strings.Contains(err.Error(), "cannot write learner batch: 1 of 2 failed") || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("err = %v", err)
		}
		wantResult(t, res, 1)
		if o, err := rdb.HGetAll(ctx, k.Offsets).Result(); err != nil || len(o) != 0 {
			t.Fatalf("offset advanced by a failed script: %v %v", o, err)
		}
		if err := rdb.Del(ctx, k.Engagement).Err(); err != nil {
			t.Fatal(err)
		}
		wantResult(t, write(t, s, batch...), 1, "fine")
		if sn := snap(t, s, "broken"); sn.State != "b" || sn.Offsets["0"] != "4" || sn.Engagement["x"] != "1" {
			t.Fatalf("retry: %+v", sn)
		}
	})

	t.Run("TTL on every key", func(t *testing.T) {
		s := newTestStore(t, rdb, time.Hour)
		write(t, s, LearnerWrite{Learner: "l", Offset: 1, State: []byte("x"), Decisions: []decision.Decision{mastered("c", 0)}, Engagement: []Field{{"a", "b"}},
			Skills: []Field{{"fractions", "v"}}})
		if len(s.schema.Keys("l").All()) != 5 {
			t.Fatalf("All() = %v, want the five keys", s.schema.Keys("l").All())
		}
		for _, key := range s.schema.Keys("l").All() {
			d, err := rdb.PTTL(ctx, key).Result()
			if err != nil || d <= 59*time.Minute || d > time.Hour {
				t.Errorf("PTTL(%s) = %v, %v; want about 1h", key, d, err)
			}
		}
	})

	t.Run("load and forget", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		write(t, s,
			LearnerWrite{Learner: "a", Partition: 1, Offset: 9, State: []byte("sa"), Decisions: []decision.Decision{mastered("c", 0)},
				Engagement: []Field{{"c", "e"}}, Skills: []Field{{"fractions", "k"}}},
			LearnerWrite{Learner: "b", Partition: 2, Offset: 3},
		)
		write(t, s, LearnerWrite{Learner: "a", Partition: 4, Offset: 2})
		st, err := s.LoadState(ctx, "a")
		if err != nil || string(st) != "sa" {
			t.Fatalf("LoadState(a) = %q, %v", st, err)
		}
		if st, err := s.LoadState(ctx, "nobody"); err != nil || st != nil {
			t.Fatalf("LoadState(nobody) = %q, %v; want nil, nil", st, err)
		}
		if _, err := s.LoadState(ctx, "a@b"); err == nil {
			t.Fatal("LoadState with a raw identity: no error")
		}
		m, err := s.Load(ctx, []string{"a", "b", "nobody"})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(m); got != "map[a:{[115 97] map[1:9 4:2]} b:{[] map[2:3]}]" {
			t.Fatalf("Load = %s", got)
		}
		ok, err := s.Forget(ctx, "a")
		if err != nil || !ok {
			t.Fatalf("Forget(a) = %v, %v", ok, err)
		}
		for _, key := range s.schema.Keys("a").All() {
			if n, _ := rdb.Exists(ctx, key).Result(); n != 0 {
				t.Errorf("%s survived Forget", key)
			}
		}
		if sn := snap(t, s, "a"); len(sn.Skills) != 0 {
			t.Fatalf("skills survived Forget: %v", sn.Skills)
		}
		if ok, err := s.Forget(ctx, "a"); err != nil || ok {
			t.Fatalf("second Forget(a) = %v, %v; want false, nil", ok, err)
		}
		if sn := snap(t, s, "b"); sn.Offsets["2"] != "3" {
			t.Fatalf("Forget(a) touched b: %+v", sn)
		}
	})

	t.Run("readers never see a half-applied write", func(t *testing.T) {
		s := newTestStore(t, rdb, 0)
		k := s.schema.Keys("l")
		const n = 150
		var wg sync.WaitGroup
		errc := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(1); off <= n; off++ {
				v := strconv.FormatInt(off, 10)
				d := mastered("c", off)
				if _, err := s.WriteBatch(ctx, []LearnerWrite{{Learner: "l", Offset: off, State: []byte(v), Decisions: []decision.Decision{d}, Engagement: []Field{{"v", v}}, Skills: []Field{{"s", v}}}}); err != nil {
					errc <- err
					return
				}
			}
		}()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if time.Now().After(deadline) {
				t.Fatal("writer did not finish in 30s")
			}
			var st *redis.StringCmd
			var off, dec, eng, skl *redis.StringCmd
			_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				st = p.Get(ctx, k.State)
				off = p.HGet(ctx, k.Offsets, "0")
				dec = p.HGet(ctx, k.Decisions, "c")
				eng = p.HGet(ctx, k.Engagement, "v")
				skl = p.HGet(ctx, k.Skills, "s")
				return nil
			})
			if err == redis.Nil {
				select {
				case err := <-errc:
					t.Fatal(err)
				default:
				}
				continue // nothing written yet
			}
			if err != nil {
				t.Fatal(err)
			}
			h, _, err := ParseHead(dec.Val())
			if err != nil {
				t.Fatal(err)
			}
			v := st.Val()
			if off.Val() != v || eng.Val() != v || skl.Val() != v || strconv.FormatInt(h.Until, 10) != v {
				t.Fatalf("torn read: state %s offset %s engagement %s skill %s decision until %d", v, off.Val(), eng.Val(), skl.Val(), h.Until)
			}
			if v == strconv.Itoa(n) {
				break
			}
		}
		wg.Wait()
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
	})
}

// scriptCached reports whether any server (any master of a cluster) has the
// write script cached.
func scriptCached(t *testing.T, rdb redis.UniversalClient) bool {
	t.Helper()
	ctx := context.Background()
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		found := false
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			ok, err := c.ScriptExists(ctx, writeScript.Hash()).Result()
			mu.Lock()
			defer mu.Unlock()
			found = found || (err == nil && ok[0])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	ok, err := rdb.ScriptExists(ctx, writeScript.Hash()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ok[0]
}
