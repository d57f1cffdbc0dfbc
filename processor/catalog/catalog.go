package catalog

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/unpair/unpair/processor/mastery"
)

// Item is one content item: the skills it exercises and its Elo difficulty.
type Item struct {
	Content    string   `json:"content"`
	Skills     []string `json:"skills,omitempty"`
	Difficulty float64  `json:"difficulty,omitempty"` // Elo difficulty, logits; 0 = average
}

// Skill is one skill and its fitted BKT parameters; nil BKT means the skill
// has no fitted parameters and the engine uses the cold-start streak rule.
type Skill struct {
	ID  string       `json:"id"`
	BKT *mastery.BKT `json:"bkt,omitempty"`
}

// Defaults apply to content and skills the catalog does not list.
type Defaults struct {
	// BKT is used for content without skills (item-level state) and for
	// skills known only from statements; nil means the streak rule.
	BKT        *mastery.BKT `json:"bkt,omitempty"`
	Difficulty float64      `json:"difficulty,omitempty"` // Elo difficulty of unlisted items
}

// Validate checks an item.
func (it *Item) Validate() error {
	if it.Content == "" {
		return errors.New("content: must not be empty")
	}
	for i, s := range it.Skills {
		if s == "" {
			return fmt.Errorf("skills[%d]: must not be empty", i)
		}
		for _, t := range it.Skills[:i] {
			if t == s {
				return fmt.Errorf("skills[%d]: %q listed twice", i, s)
			}
		}
	}
	if math.IsNaN(it.Difficulty) || math.IsInf(it.Difficulty, 0) || math.Abs(it.Difficulty) > 20 {
		return fmt.Errorf("difficulty: must be a finite number of logits within [-20, 20], got %v", it.Difficulty)
	}
	return nil
}

// Validate checks a skill.
func (s *Skill) Validate() error {
	if s.ID == "" {
		return errors.New("id: must not be empty")
	}
	if s.BKT != nil {
		if err := s.BKT.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the defaults.
func (d *Defaults) Validate() error {
	if d.BKT != nil {
		if err := d.BKT.Validate(); err != nil {
			return fmt.Errorf("defaults: %w", err)
		}
	}
	if math.IsNaN(d.Difficulty) || math.IsInf(d.Difficulty, 0) || math.Abs(d.Difficulty) > 20 {
		return fmt.Errorf("defaults: difficulty: must be a finite number of logits within [-20, 20], got %v", d.Difficulty)
	}
	return nil
}

// Snapshot is an immutable view of the catalog. The zero value and nil are
// empty catalogs with zero defaults.
type Snapshot struct {
	version  uint64
	defaults Defaults
	items    layer[*Item]
	skills   layer[*Skill]
}

// layer is a base map shared between snapshots plus a small overlay of
// changes; a nil value in the overlay is a deletion.
type layer[V any] struct {
	base    map[string]V
	overlay map[string]*V
}

func (l *layer[V]) get(k string) (V, bool) {
	if p, ok := l.overlay[k]; ok {
		if p == nil {
			var zero V
			return zero, false
		}
		return *p, true
	}
	v, ok := l.base[k]
	return v, ok
}

func (l *layer[V]) len() int {
	n := len(l.base)
	for k, p := range l.overlay {
		_, inBase := l.base[k]
		switch {
		case p == nil && inBase:
			n--
		case p != nil && !inBase:
			n++
		}
	}
	return n
}

// with returns a copy of l with the given changes (nil = delete): it copies
// the overlay, and folds everything into a new base when the overlay grows
// past a fraction of the base.
func (l layer[V]) with(changes map[string]*V) layer[V] {
	ov := make(map[string]*V, len(l.overlay)+len(changes))
	for k, p := range l.overlay {
		ov[k] = p
	}
	for k, p := range changes {
		ov[k] = p
	}
	if len(ov) <= 64+len(l.base)/8 {
		return layer[V]{base: l.base, overlay: ov}
	}
	base := make(map[string]V, len(l.base)+len(ov))
	for k, v := range l.base {
		base[k] = v
	}
	for k, p := range ov {
		if p == nil {
			delete(base, k)
		} else {
			base[k] = *p
		}
	}
	return layer[V]{base: base}
}

func (l *layer[V]) each(f func(k string, v V)) {
	for k, v := range l.base {
		if _, over := l.overlay[k]; !over {
			f(k, v)
		}
	}
	for k, p := range l.overlay {
		if p != nil {
			f(k, *p)
		}
	}
}

// Version increases with every Apply; New starts at 1.
func (s *Snapshot) Version() uint64 {
	if s == nil {
		return 0
	}
	return s.version
}

// Defaults returns the catalog defaults.
func (s *Snapshot) Defaults() Defaults {
	if s == nil {
		return Defaults{}
	}
	return s.defaults
}

// Item returns the catalog entry of a content item. The returned value is
// shared: do not modify it.
func (s *Snapshot) Item(content string) (*Item, bool) {
	if s == nil {
		return nil, false
	}
	return s.items.get(content)
}

// Skill returns the catalog entry of a skill. The returned value is shared:
// do not modify it.
func (s *Snapshot) Skill(id string) (*Skill, bool) {
	if s == nil {
		return nil, false
	}
	return s.skills.get(id)
}

// Len returns the number of items and skills.
func (s *Snapshot) Len() (items, skills int) {
	if s == nil {
		return 0, 0
	}
	return s.items.len(), s.skills.len()
}

// Items calls f for every item, in no particular order.
func (s *Snapshot) Items(f func(*Item)) {
	if s != nil {
		s.items.each(func(_ string, v *Item) { f(v) })
	}
}

// Skills calls f for every skill, in no particular order.
func (s *Snapshot) Skills(f func(*Skill)) {
	if s != nil {
		s.skills.each(func(_ string, v *Skill) { f(v) })
	}
}

// New validates and builds a snapshot. Errors name the entry and field.
func New(d Defaults, skills []Skill, items []Item) (*Snapshot, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	s := &Snapshot{version: 1, defaults: d,
		items:  layer[*Item]{base: make(map[string]*Item, len(items))},
		skills: layer[*Skill]{base: make(map[string]*Skill, len(skills))},
	}
	for i := range skills {
		sk := skills[i]
		if err := sk.Validate(); err != nil {
			return nil, fmt.Errorf("skills[%d] %q: %w", i, sk.ID, err)
		}
		if _, dup := s.skills.base[sk.ID]; dup {
			return nil, fmt.Errorf("skills[%d] %q: id: listed twice", i, sk.ID)
		}
		if sk.BKT != nil {
			b := *sk.BKT
			sk.BKT = &b
		}
		s.skills.base[sk.ID] = &sk
	}
	for i := range items {
		it := items[i]
		if err := it.Validate(); err != nil {
			return nil, fmt.Errorf("items[%d] %q: %w", i, it.Content, err)
		}
		if _, dup := s.items.base[it.Content]; dup {
			return nil, fmt.Errorf("items[%d] %q: content: listed twice", i, it.Content)
		}
		it.Skills = append([]string(nil), it.Skills...)
		s.items.base[it.Content] = &it
	}
	return s, nil
}

// UpdateKind says what an Update changes.
type UpdateKind uint8

const (
	UpdateItem UpdateKind = iota + 1
	UpdateSkill
	UpdateDefaults
)

// Update is one change to the catalog: an item or skill to set or delete,
// or new defaults. Key is the content or skill id.
type Update struct {
	Kind     UpdateKind
	Key      string
	Delete   bool
	Item     Item     // UpdateItem, unless Delete
	Skill    Skill    // UpdateSkill, unless Delete
	Defaults Defaults // UpdateDefaults (Delete resets to zero defaults)
}

// Apply returns a new snapshot with the updates applied in order; s is not
// modified. A nil s is an empty catalog. An invalid update rejects the whole
// call, with an error naming the update and field.
func (s *Snapshot) Apply(updates ...Update) (*Snapshot, error) {
	n := &Snapshot{}
	if s != nil {
		*n = *s
	}
	n.version = s.Version() + 1
	var items map[string]**Item
	var skills map[string]**Skill
	for i, u := range updates {
		switch u.Kind {
		case UpdateItem:
			if items == nil {
				items = map[string]**Item{}
			}
			if u.Delete {
				items[u.Key] = nil
				continue
			}
			it := u.Item
			if it.Content == "" {
				it.Content = u.Key
			}
			if it.Content != u.Key {
				return nil, fmt.Errorf("update[%d] item %q: content: %q does not match the key", i, u.Key, it.Content)
			}
			if err := it.Validate(); err != nil {
				return nil, fmt.Errorf("update[%d] item %q: %w", i, u.Key, err)
			}
			it.Skills = append([]string(nil), it.Skills...)
			p := &it
			items[u.Key] = &p
		case UpdateSkill:
			if skills == nil {
				skills = map[string]**Skill{}
			}
			if u.Delete {
				skills[u.Key] = nil
				continue
			}
			sk := u.Skill
			if sk.ID == "" {
				sk.ID = u.Key
			}
			if sk.ID != u.Key {
				return nil, fmt.Errorf("update[%d] skill %q: id: %q does not match the key", i, u.Key, sk.ID)
			}
			if err := sk.Validate(); err != nil {
				return nil, fmt.Errorf("update[%d] skill %q: %w", i, u.Key, err)
			}
			if sk.BKT != nil {
				b := *sk.BKT
				sk.BKT = &b
			}
			p := &sk
			skills[u.Key] = &p
		case UpdateDefaults:
			d := u.Defaults
			if u.Delete {
				d = Defaults{}
			}
			if err := d.Validate(); err != nil {
				return nil, fmt.Errorf("update[%d]: %w", i, err)
			}
			if d.BKT != nil {
				b := *d.BKT
				d.BKT = &b
			}
			n.defaults = d
		default:
			return nil, fmt.Errorf("update[%d] %q: kind: unknown update kind %d", i, u.Key, u.Kind)
		}
	}
	if items != nil {
		n.items = n.items.with(items)
	}
	if skills != nil {
		n.skills = n.skills.with(skills)
	}
	return n, nil
}

// Catalog holds the current snapshot; safe for concurrent use. The zero
// value holds an empty catalog.
type Catalog struct {
	p atomic.Pointer[Snapshot]
}

// NewCatalog returns a Catalog holding s (nil: an empty catalog).
func NewCatalog(s *Snapshot) *Catalog {
	c := &Catalog{}
	if s != nil {
		c.p.Store(s)
	}
	return c
}

// Snapshot returns the current snapshot (never nil).
func (c *Catalog) Snapshot() *Snapshot {
	if c == nil {
		return empty
	}
	if s := c.p.Load(); s != nil {
		return s
	}
	return empty
}

var empty = &Snapshot{}

// Store replaces the whole catalog.
func (c *Catalog) Store(s *Snapshot) {
	if s == nil {
		s = empty
	}
	c.p.Store(s)
}

// Apply applies updates to the current snapshot and swaps it in atomically.
func (c *Catalog) Apply(updates ...Update) error {
	for {
		old := c.p.Load()
		n, err := old.Apply(updates...)
		if err != nil {
			return err
		}
		if c.p.CompareAndSwap(old, n) {
			return nil
		}
	}
}
