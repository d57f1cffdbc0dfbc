package fit

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/unpair/unpair/processor/catalog"
	"github.com/unpair/unpair/processor/mastery"
	"github.com/unpair/unpair/processor/replay"
)

// Skill keys: a q-matrix skill index s >= 0, or -(set+1) for the problem
// set of an item the q-matrix lacks.

// ItemSkills returns the skill keys of an attempt's item.
func ItemSkills(ds *replay.Dataset, item, set int64) []int64 {
	if s := ds.Skills[item]; len(s) > 0 {
		return s
	}
	return []int64{-(set + 1)}
}

// SkillID returns the catalog id (category activity IRI) of a skill key.
func SkillID(home string, s int64) string {
	if s < 0 {
		return replay.SetSkillID(home, -s-1)
	}
	return replay.SkillID(home, s)
}

// Options control Fit.
type Options struct {
	BKT     BKTOptions
	Elo     mastery.Elo // the online model whose K the difficulty pass uses
	Workers int         // skills fitted in parallel; default GOMAXPROCS
}

// DefaultOptions returns the options `unpair fit` uses.
func DefaultOptions() Options {
	return Options{BKT: DefaultBKTOptions(), Elo: mastery.Elo{K: 0.4, Threshold: 0.95}}
}

// Model is what Fit learns from a dataset's training learners.
type Model struct {
	Skills     map[int64]BKTFit  // per skill key
	Difficulty map[int64]float64 // per item
	Answers    map[int64]int     // training answers per item
}

// Sequences returns each skill's learner-skill answer sequences over the
// learners include accepts (nil: all), in time order.
func Sequences(ds *replay.Dataset, include func(user int64) bool) map[int64][][]bool {
	out := map[int64][][]bool{}
	for _, hist := range ds.ByLearner() {
		if include != nil && !include(hist[0].User) {
			continue
		}
		cur := map[int64][]bool{}
		for i := range hist {
			a := &hist[i]
			for _, s := range ItemSkills(ds, a.Item, a.SkillSet) {
				cur[s] = append(cur[s], a.Correct)
			}
		}
		for s, seq := range cur {
			out[s] = append(out[s], seq)
		}
	}
	return out
}

// Fit fits BKT per skill and Elo difficulties per item on the learners
// include accepts.
func Fit(ds *replay.Dataset, include func(user int64) bool, opt Options) *Model {
	seqs := Sequences(ds, include)
	keys := make([]int64, 0, len(seqs))
	for s := range seqs {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	m := &Model{Skills: make(map[int64]BKTFit, len(keys))}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int64)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				o := opt.BKT
				o.Seed = opt.BKT.Seed ^ uint64(s+1)*0x9e3779b97f4a7c15
				f := FitBKT(seqs[s], o)
				mu.Lock()
				m.Skills[s] = f
				mu.Unlock()
			}
		}()
	}
	for _, s := range keys {
		next <- s
	}
	close(next)
	wg.Wait()
	m.Difficulty, m.Answers = FitElo(ds, include, opt.Elo)
	return m
}

// FitElo estimates item difficulties by two passes of the online Elo model
// over the included learners' answers in time order (see doc.go). It
// returns the difficulty and the answer count of every item of the dataset
// (q-matrix and data), including items never answered by those learners.
func FitElo(ds *replay.Dataset, include func(user int64) bool, elo mastery.Elo) (map[int64]float64, map[int64]int) {
	if elo.K <= 0 {
		elo.K = 0.4
	}
	diff := map[int64]float64{}
	n := map[int64]int{}    // answers in the current pass
	seen := map[int64]int{} // answers over both passes: the step shrinks with it
	type key struct{ user, skill int64 }
	for pass := 0; pass < 2; pass++ {
		ability := map[key]float64{}
		for i := range ds.Attempts {
			a := &ds.Attempts[i]
			if include != nil && !include(a.User) {
				continue
			}
			c := 0.0
			if a.Correct {
				c = 1
			}
			d := diff[a.Item]
			skills := ItemSkills(ds, a.Item, a.SkillSet)
			surprise := 0.0
			for _, s := range skills {
				k := key{a.User, s}
				th := ability[k]
				surprise += elo.PCorrect(th, d) - c
				ability[k] = elo.Update(th, d, c)
			}
			n[a.Item]++
			seen[a.Item]++
			diff[a.Item] = d + surprise/float64(len(skills))/(1+0.05*float64(seen[a.Item]))
		}
		if pass == 0 {
			clear(n)
		}
	}
	// Items not answered: the mean difficulty of answered items sharing a skill.
	sum, cnt := map[int64]float64{}, map[int64]int{}
	for item, d := range diff {
		for _, s := range ds.Skills[item] {
			sum[s] += d
			cnt[s]++
		}
	}
	for item, skills := range ds.Skills {
		if _, ok := diff[item]; ok {
			continue
		}
		t, k := 0.0, 0
		for _, s := range skills {
			t += sum[s]
			k += cnt[s]
		}
		if k > 0 {
			diff[item] = t / float64(k)
		} else {
			diff[item] = 0
		}
	}
	for item, d := range diff {
		diff[item] = math.Max(-20, math.Min(20, d))
	}
	return diff, n
}

// Catalog renders the model as the catalog file the engine loads. Skills
// that fell back to cold start are listed without parameters.
func (m *Model) Catalog(ds *replay.Dataset, home string) (catalog.File, error) {
	if home == "" {
		home = replay.DefaultHomePage(ds.Name)
	}
	var f catalog.File
	keys := make([]int64, 0, len(m.Skills))
	for s := range m.Skills {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, s := range keys {
		sk := catalog.Skill{ID: SkillID(home, s)}
		if fit := m.Skills[s]; fit.Status == Fitted {
			p := fit.Params
			sk.BKT = &p
		}
		f.Skills = append(f.Skills, sk)
	}
	items := map[int64]int64{} // item → problem set, for items outside the q-matrix
	for i := range ds.Attempts {
		items[ds.Attempts[i].Item] = ds.Attempts[i].SkillSet
	}
	for item := range ds.Skills {
		if _, ok := items[item]; !ok {
			items[item] = -1
		}
	}
	ids := make([]int64, 0, len(items))
	for it := range items {
		ids = append(ids, it)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, it := range ids {
		var skills []string
		for _, s := range ItemSkills(ds, it, items[it]) {
			skills = append(skills, SkillID(home, s))
		}
		f.Items = append(f.Items, catalog.Item{Content: replay.ContentID(home, it), Skills: skills, Difficulty: round(m.Difficulty[it])})
	}
	if _, err := catalog.New(f.Defaults, f.Skills, f.Items); err != nil {
		return f, fmt.Errorf("fitted catalog is invalid: %w", err)
	}
	return f, nil
}

func round(x float64) float64 { return math.Round(x*1e6) / 1e6 }
