package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/unpair/unpair/processor/catalog"
)

// Catalog is the content the cohort works on: lessons and question items,
// each mapped to its skills. The demo loads it into the catalog topic so the
// engine can roll item evidence up to skills.
type Catalog struct {
	Course string  `json:"course"` // course activity id
	Skills []Skill `json:"skills"`
	// Content lists the lessons first (one per skill, in skill order), then
	// the question items.
	Content []Content `json:"content"`
}

// Skill is one skill of the course.
type Skill struct {
	ID   string `json:"id"` // skill activity id, as sent in context.contextActivities.category
	Name string `json:"name"`
}

// Content is one recommendable piece of content.
type Content struct {
	ID         string   `json:"id"` // activity id, as sent in object.id
	Name       string   `json:"name"`
	Type       string   `json:"type"`   // activity type IRI: lesson or cmi.interaction
	Skills     []string `json:"skills"` // skill ids, primary first
	Difficulty float64  `json:"difficulty"`
}

// SkillMap returns content id → skill ids.
func (c *Catalog) SkillMap() map[string][]string {
	m := make(map[string][]string, len(c.Content))
	for i := range c.Content {
		m[c.Content[i].ID] = c.Content[i].Skills
	}
	return m
}

// File returns the catalog in the engine's file form (processor/catalog):
// every skill without fitted BKT parameters (the engine's cold-start rule
// until `unpair fit` fits them), every lesson and item with its skills and
// difficulty.
func (c *Catalog) File() catalog.File {
	f := catalog.File{Skills: make([]catalog.Skill, len(c.Skills)), Items: make([]catalog.Item, len(c.Content))}
	for i, s := range c.Skills {
		f.Skills[i] = catalog.Skill{ID: s.ID}
	}
	for i, it := range c.Content {
		f.Items[i] = catalog.Item{Content: it.ID, Skills: it.Skills, Difficulty: it.Difficulty}
	}
	return f
}

// WriteJSON writes File as JSON, the catalog file `unpair run` loads.
func (c *Catalog) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(c.File()); err != nil {
		return fmt.Errorf("cannot write the catalog: %w", err)
	}
	return nil
}

// Record is one record of the compacted catalog topic.
type Record struct{ Key, Value []byte }

// Records returns the catalog as records of the compacted catalog topic
// (see catalog.ParseUpdate): "skill:<id>" and "item:<content>" keys with
// the JSON of the skill or item.
func (c *Catalog) Records() ([]Record, error) {
	f := c.File()
	out := make([]Record, 0, len(f.Skills)+len(f.Items))
	for i := range f.Skills {
		v, err := json.Marshal(&f.Skills[i])
		if err != nil {
			return nil, fmt.Errorf("cannot encode skill %s: %w", f.Skills[i].ID, err)
		}
		out = append(out, Record{Key: []byte("skill:" + f.Skills[i].ID), Value: v})
	}
	for i := range f.Items {
		v, err := json.Marshal(&f.Items[i])
		if err != nil {
			return nil, fmt.Errorf("cannot encode item %s: %w", f.Items[i].Content, err)
		}
		out = append(out, Record{Key: []byte("item:" + f.Items[i].Content), Value: v})
	}
	return out, nil
}

const (
	typeLesson      = "http://adlnet.gov/expapi/activities/lesson"
	typeInteraction = "http://adlnet.gov/expapi/activities/cmi.interaction"
	typeCourse      = "http://adlnet.gov/expapi/activities/course"
	typeObjective   = "http://adlnet.gov/expapi/activities/objective"
)

var skillNames = []string{
	"Addition and Subtraction of Integers", "Multiplication and Division of Fractions",
	"Order of Operations", "Equivalent Fractions", "Percent of a Quantity",
	"Ratio and Proportion", "Linear Equations in One Variable", "Area of Circles",
	"Pythagorean Theorem", "Scatter Plots", "Mean, Median and Mode",
	"Exponents and Powers", "Scientific Notation", "Slope of a Line",
	"Systems of Linear Equations", "Probability of Compound Events",
	"Volume of Cylinders", "Angles in Triangles", "Unit Conversion",
	"Absolute Value", "Inequalities on a Number Line", "Distributive Property",
	"Box and Whisker Plots", "Square Roots",
}

// itemCatalog is the catalog plus the per-skill item lists the generator
// draws questions from.
type itemCatalog struct {
	Catalog
	bySkill [][]int32 // skill → indexes into Content of its items (primary skill only)
	slugs   []string  // skill → slug used in ids
}

func buildCatalog(cfg *Config) *itemCatalog {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	base := strings.TrimRight(cfg.HomePage, "/")
	c := &itemCatalog{
		Catalog: Catalog{
			Course:  base + "/courses/math-foundations",
			Skills:  make([]Skill, cfg.Skills),
			Content: make([]Content, 0, cfg.Skills+cfg.Items),
		},
		bySkill: make([][]int32, cfg.Skills),
		slugs:   make([]string, cfg.Skills),
	}
	for s := range cfg.Skills {
		name := fmt.Sprintf("Skill %d", s+1)
		if s < len(skillNames) {
			name = skillNames[s]
		}
		slug := slugify(name)
		if s >= len(skillNames) {
			slug = fmt.Sprintf("skill-%d", s+1)
		}
		c.slugs[s] = slug
		c.Skills[s] = Skill{ID: base + "/competencies/" + slug, Name: name}
	}
	for s := range cfg.Skills {
		c.Content = append(c.Content, Content{
			ID:     c.Course + "/lessons/" + c.slugs[s],
			Name:   "Lesson: " + c.Skills[s].Name,
			Type:   typeLesson,
			Skills: []string{c.Skills[s].ID},
		})
	}
	for i := range cfg.Items {
		s := i % cfg.Skills
		skills := []string{c.Skills[s].ID}
		if cfg.Skills > 1 && rng.Float64() < 0.2 {
			skills = append(skills, c.Skills[(s+1)%cfg.Skills].ID)
		}
		c.bySkill[s] = append(c.bySkill[s], int32(len(c.Content)))
		c.Content = append(c.Content, Content{
			ID:         fmt.Sprintf("%s/items/q%06d", c.Course, i+1),
			Name:       fmt.Sprintf("%s, question %d", c.Skills[s].Name, i/cfg.Skills+1),
			Type:       typeInteraction,
			Skills:     skills,
			Difficulty: float64(int(rng.NormFloat64()*40)) / 100, // about [-1, 1], two decimals
		})
	}
	for i := cfg.Skills; i < len(c.Content); i++ {
		d := &c.Content[i].Difficulty
		*d = max(-1, min(1, *d))
	}
	return c
}

func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
