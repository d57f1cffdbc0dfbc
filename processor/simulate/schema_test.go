package simulate

import (
	"slices"
	"testing"

	"github.com/unpair/unpair/schema"
)

// TestProjectDecoderAgrees runs every generated statement through the
// project's own strict xAPI decoder: valid ones must normalize, with the
// learner key, content, kind and skills the simulation meant; every defect
// must be rejected.
func TestProjectDecoderAgrees(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InvalidShare, cfg.VoidShare, cfg.RatingShare, cfg.DislikeShare = 0.05, 0.1, 0.3, 0.1
	msgs, cat, _ := cohort(t, cfg)
	skills := cat.SkillMap()
	keyer := schema.NewLearnerKeyer([]byte("test secret"))
	for _, mode := range []schema.Mode{schema.Strict, schema.Tolerant} {
		dec := schema.NewDecoder(schema.Options{Mode: mode, Keyer: keyer})
		kinds := map[schema.Kind]int{}
		for i, m := range msgs {
			ev, err := dec.Normalize(m.Value, m.Time)
			if m.Defect != "" {
				if err == nil {
					t.Fatalf("%v: message %d with defect %q normalized without error:\n%s", mode, i, m.Defect, m.Value)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%v: message %d rejected: %v\n%s", mode, i, err, m.Value)
			}
			if want := keyer.Key(m.Learner); ev.Learner != want {
				t.Fatalf("%v: message %d: learner key %s, want key of %s = %s", mode, i, ev.Learner, m.Learner, want)
			}
			if len(ev.Notes) > 0 {
				t.Errorf("%v: message %d needed tolerance: %v", mode, i, ev.Notes)
			}
			if ev.TimeFrom != schema.TimeFromTimestamp || ev.Time != m.Time.UnixNano() && !m.Duplicate {
				t.Errorf("%v: message %d: time %d from %v, want the timestamp %d", mode, i, ev.Time, ev.TimeFrom, m.Time.UnixNano())
			}
			kinds[ev.Kind]++
			if ev.Kind == schema.KindVoid {
				continue
			}
			want, ok := skills[ev.Content]
			if !ok {
				t.Fatalf("%v: message %d: content %q not in the catalog", mode, i, ev.Content)
			}
			if !slices.Equal(ev.Skills, want) {
				t.Fatalf("%v: message %d: skills %v, catalog %v", mode, i, ev.Skills, want)
			}
		}
		for _, k := range []schema.Kind{schema.KindLaunch, schema.KindAttempt, schema.KindCompletion, schema.KindProgress,
			schema.KindExperience, schema.KindRating, schema.KindDislike, schema.KindVoid} {
			if kinds[k] == 0 {
				t.Errorf("%v: no statement of kind %v in the cohort (kinds %v)", mode, k, kinds)
			}
		}
	}
}
