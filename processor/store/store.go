package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/unpair/unpair/processor/decision"
)

// Options configure a Store.
type Options struct {
	// Prefix is the first key component; "" means DefaultPrefix ("unpair").
	Prefix string
	// TTL, when positive, is set on all keys of a learner at every applied
	// write (so a learner unseen for TTL disappears as a whole). Zero leaves
	// keys without expiry. A common choice is 400 days.
	TTL time.Duration
}

// Store writes and reads the per-learner keys of the v1 layout. It is safe
// for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	schema Schema
	ttlMs  int64
}

// New returns a Store over a redis.Client or redis.ClusterClient.
func New(rdb redis.UniversalClient, opt Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("store: redis client: required")
	}
	sc, err := NewSchema(opt.Prefix)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if opt.TTL < 0 {
		return nil, fmt.Errorf("store: TTL %v: must not be negative", opt.TTL)
	}
	ttl := opt.TTL.Milliseconds()
	if opt.TTL > 0 && ttl == 0 {
		return nil, fmt.Errorf("store: TTL %v: must be at least 1ms", opt.TTL)
	}
	return &Store{rdb: rdb, schema: sc, ttlMs: ttl}, nil
}

// Schema returns the key schema the store writes.
func (s *Store) Schema() Schema { return s.schema }

// Field is one hash field to set.
type Field struct {
	Name  string
	Value string
}

// LearnerWrite is everything one learner's state changed to after the
// events up to Offset of source partition Partition.
type LearnerWrite struct {
	Learner   string // learner key (schema.LearnerKeyer), never a raw identity
	Partition int32  // source partition the events came from
	Offset    int64  // offset of the last event the write reflects; >= 0
	// State is the engine's opaque resume state; nil leaves the stored state
	// as it is, non-nil (even empty) replaces it.
	State []byte
	// Decisions are the pairs whose decision changed. Each replaces the
	// stored decision of its content. A not-suppressed decision is stored
	// too (flag 0), so Explain can say why a suppression ended.
	Decisions []decision.Decision
	// Engagement are absolute values for the engagement hash (":e"), e.g.
	// last_seen, last_verb; never increments, so a replay is harmless.
	Engagement []Field
	// Skills are absolute values for the skills hash (":k"): skill name ->
	// mastery.AppendSkill of the learner's current state of that skill, for
	// the skills whose state changed. Readers decide content the learner
	// never touched from them (processor/client).
	Skills []Field
	// Refresh marks a write that reflects no new event (a sweep that found
	// a review due, an operator's override) at the learner's newest applied
	// Offset: it applies when the stored offset is not newer (<=) instead of
	// strictly older, so it is not dropped as stale, while a write from an
	// owner that lost the learner to a newer one still is.
	Refresh bool
}

// Result tells what WriteBatch did.
type Result struct {
	Applied int      // learner writes applied
	Stale   []string // learner keys skipped because their offset was already applied
}

// WriteBatch writes many learners in one pipelined round trip. Each learner
// is applied atomically by one Lua script that first compares Offset with
// the stored offset of Partition and applies only if it is greater (or
// equal, for a Refresh); so the
// same batch written twice, a Kafka redelivery or a pipeline retried by
// go-redis leaves the state of one clean pass.
//
// Stale lists learners whose offset was not newer. After go-redis retried a
// pipeline, a learner this call applied may be listed as stale too; the
// stored state is right either way.
//
// The batch is validated before anything is sent. When some learners fail
// (network, server errors) the others may be applied: retry the whole batch,
// which is idempotent.
func (s *Store) WriteBatch(ctx context.Context, batch []LearnerWrite) (Result, error) {
	if len(batch) == 0 {
		return Result{}, nil
	}
	args := make([][]any, len(batch))
	keys := make([][]string, len(batch))
	for i := range batch {
		a, err := s.args(&batch[i])
		if err != nil {
			return Result{}, fmt.Errorf("cannot write learner batch: write %d of %d: %w", i, len(batch), err)
		}
		args[i] = a
		keys[i] = s.schema.Keys(batch[i].Learner).All()
	}

	cmds := make([]*redis.Cmd, len(batch))
	pipe := s.rdb.Pipeline()
	for i := range batch {
		cmds[i] = writeScript.EvalSha(ctx, pipe, keys[i], args[i]...)
	}
	_, _ = pipe.Exec(ctx) // every command's error is checked below

	// Redis forgets scripts on restart, failover and SCRIPT FLUSH: rerun
	// those writes with EVAL (which caches the script again). NOSCRIPT means
	// the script did not run, so this cannot apply anything twice.
	var again []int
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe := s.rdb.Pipeline()
		for _, i := range again {
			cmds[i] = writeScript.Eval(ctx, pipe, keys[i], args[i]...)
		}
		_, _ = pipe.Exec(ctx)
	}

	var res Result
	var failed int
	var first error
	for i, c := range cmds {
		n, err := c.Int64()
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
			continue
		}
		if n == 1 {
			res.Applied++
		} else {
			res.Stale = append(res.Stale, batch[i].Learner)
		}
	}
	if failed > 0 {
		return res, fmt.Errorf("cannot write learner batch: %d of %d failed: %w", failed, len(batch), first)
	}
	return res, nil
}

// args validates w and returns the script's ARGV.
func (s *Store) args(w *LearnerWrite) ([]any, error) {
	if err := ValidateLearnerKey(w.Learner); err != nil {
		return nil, err
	}
	if w.Partition < 0 {
		return nil, fmt.Errorf("partition %d: must not be negative", w.Partition)
	}
	if w.Offset < 0 {
		return nil, fmt.Errorf("offset %d: must not be negative", w.Offset)
	}
	a := make([]any, 0, 9+2*len(w.Decisions)+2*len(w.Engagement)+2*len(w.Skills))
	a = append(a, strconv.FormatInt(int64(w.Partition), 10), strconv.FormatInt(w.Offset, 10), s.ttlMs)
	setState, refresh := "0", "0"
	if w.State != nil {
		setState = "1"
	}
	if w.Refresh {
		refresh = "1"
	}
	a = append(a, setState, refresh, w.State)
	a = append(a, len(w.Decisions))
	for j := range w.Decisions {
		v, err := EncodeDecision(w.Decisions[j])
		if err != nil {
			return nil, fmt.Errorf("decision %d: %w", j, err)
		}
		a = append(a, w.Decisions[j].Content, v)
	}
	a = append(a, len(w.Engagement))
	for j, f := range w.Engagement {
		if f.Name == "" {
			return nil, fmt.Errorf("engagement field %d: name required", j)
		}
		a = append(a, f.Name, f.Value)
	}
	a = append(a, len(w.Skills))
	for j, f := range w.Skills {
		if f.Name == "" {
			return nil, fmt.Errorf("skills[%d]: name: must not be empty", j)
		}
		a = append(a, f.Name, f.Value)
	}
	return a, nil
}

// Loaded is what the store holds to resume a learner.
type Loaded struct {
	State   []byte          // nil when the learner has no stored state
	Offsets map[int32]int64 // last applied offset per source partition
}

// LoadState returns the engine state of one learner, nil when there is none.
func (s *Store) LoadState(ctx context.Context, learner string) ([]byte, error) {
	if err := ValidateLearnerKey(learner); err != nil {
		return nil, fmt.Errorf("cannot load learner state: %w", err)
	}
	b, err := s.rdb.Get(ctx, s.schema.Keys(learner).State).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot load learner state: %w", err)
	}
	return b, nil
}

// Load returns, in one pipelined round trip, the state and applied offsets
// of many learners. Learners with nothing stored are absent from the map.
// The engine must skip replayed events at or below a learner's stored
// offset for their partition: the state already reflects them.
func (s *Store) Load(ctx context.Context, learners []string) (map[string]Loaded, error) {
	out := make(map[string]Loaded, len(learners))
	if len(learners) == 0 {
		return out, nil
	}
	for i, l := range learners {
		if err := ValidateLearnerKey(l); err != nil {
			return nil, fmt.Errorf("cannot load learners: learner %d: %w", i, err)
		}
	}
	states := make([]*redis.StringCmd, len(learners))
	offs := make([]*redis.MapStringStringCmd, len(learners))
	pipe := s.rdb.Pipeline()
	for i, l := range learners {
		k := s.schema.Keys(l)
		states[i] = pipe.Get(ctx, k.State)
		offs[i] = pipe.HGetAll(ctx, k.Offsets)
	}
	_, _ = pipe.Exec(ctx)
	var failed int
	var first error
	for i, l := range learners {
		st, err := states[i].Bytes()
		if errors.Is(err, redis.Nil) {
			st, err = nil, nil
		}
		om, oerr := offs[i].Result()
		if err == nil {
			err = oerr
		}
		var offsets map[int32]int64
		if err == nil {
			offsets, err = parseOffsets(om)
		}
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
			continue
		}
		if st != nil || len(offsets) > 0 {
			out[l] = Loaded{State: st, Offsets: offsets}
		}
	}
	if failed > 0 {
		return nil, fmt.Errorf("cannot load learners: %d of %d failed: %w", failed, len(learners), first)
	}
	return out, nil
}

func parseOffsets(m map[string]string) (map[int32]int64, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[int32]int64, len(m))
	for p, o := range m {
		pi, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("stored offsets: partition %q is not an int32", p)
		}
		oi, err := strconv.ParseInt(o, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stored offsets: offset %q of partition %d is not an int64", o, pi)
		}
		out[int32(pi)] = oi
	}
	return out, nil
}

// Forget erases everything stored about one learner (decisions, state,
// offsets, engagement, skills) with one DEL and reports whether anything existed.
// Offsets go too: events of the learner still retained in Kafka would, if
// replayed, build the learner again.
func (s *Store) Forget(ctx context.Context, learner string) (bool, error) {
	if err := ValidateLearnerKey(learner); err != nil {
		return false, fmt.Errorf("cannot forget learner: %w", err)
	}
	n, err := s.rdb.Del(ctx, s.schema.Keys(learner).All()...).Result()
	if err != nil {
		return false, fmt.Errorf("cannot forget learner: %w", err)
	}
	return n > 0, nil
}
