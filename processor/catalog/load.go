package catalog

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/unpair/unpair/processor/mastery"
)

// File is the JSON form of a catalog.
type File struct {
	Defaults Defaults `json:"defaults"`
	Skills   []Skill  `json:"skills"`
	Items    []Item   `json:"items"`
}

// Load reads a catalog file: CSV when the name ends in .csv, JSON otherwise.
func Load(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open catalog: %w", err)
	}
	defer f.Close()
	var s *Snapshot
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		s, err = ReadCSV(f)
	} else {
		s, err = ReadJSON(f)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return s, nil
}

// ReadJSON reads a catalog in the JSON form of File. Unknown fields are
// rejected so that a misspelt parameter does not silently fall back to a
// default.
func ReadJSON(r io.Reader) (*Snapshot, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("cannot parse catalog JSON: %w", err)
	}
	return New(f.Defaults, f.Skills, f.Items)
}

// ReadCSV reads a catalog CSV: either items ("content,skills,difficulty",
// skills separated by ';', difficulty optional) or skills
// ("skill,l0,t,g,s,f", f optional). Errors name the line and column.
func ReadCSV(r io.Reader) (*Snapshot, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("cannot read catalog CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	num := func(line int, rec []string, name string, def float64) (float64, error) {
		v := field(rec, name)
		if v == "" {
			return def, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("line %d: %s: not a number: %q", line, name, v)
		}
		return f, nil
	}
	var items []Item
	var skills []Skill
	_, isItems := col["content"]
	_, isSkills := col["skill"]
	if isItems == isSkills {
		return nil, errors.New(`catalog CSV header: want "content,skills,difficulty" or "skill,l0,t,g,s,f"`)
	}
	line := 1
	for {
		rec, err := cr.Read()
		line++
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read catalog CSV: %w", err)
		}
		if isItems {
			it := Item{Content: field(rec, "content")}
			if sk := field(rec, "skills"); sk != "" {
				for _, s := range strings.Split(sk, ";") {
					it.Skills = append(it.Skills, strings.TrimSpace(s))
				}
			}
			if it.Difficulty, err = num(line, rec, "difficulty", 0); err != nil {
				return nil, err
			}
			items = append(items, it)
			continue
		}
		var p mastery.BKT
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"l0", &p.L0}, {"t", &p.T}, {"g", &p.G}, {"s", &p.S}, {"f", &p.F}} {
			if *f.dst, err = num(line, rec, f.name, 0); err != nil {
				return nil, err
			}
		}
		skills = append(skills, Skill{ID: field(rec, "skill"), BKT: &p})
	}
	return New(Defaults{}, skills, items)
}

// ParseUpdate turns one record of the compacted catalog topic into an
// Update. Keys: "item:<content>", "skill:<id>", "defaults". An empty value
// is a tombstone (delete).
func ParseUpdate(key, value []byte) (Update, error) {
	k := string(key)
	var u Update
	switch {
	case strings.HasPrefix(k, "item:"):
		u = Update{Kind: UpdateItem, Key: k[len("item:"):]}
	case strings.HasPrefix(k, "skill:"):
		u = Update{Kind: UpdateSkill, Key: k[len("skill:"):]}
	case k == "defaults":
		u = Update{Kind: UpdateDefaults, Key: k}
	default:
		return Update{}, fmt.Errorf("catalog update key %q: must be item:<content>, skill:<id> or defaults", k)
	}
	if u.Key == "" {
		return Update{}, fmt.Errorf("catalog update key %q: the id after the prefix must not be empty", k)
	}
	if len(bytes.TrimSpace(value)) == 0 {
		u.Delete = true
		return u, nil
	}
	var dst any
	switch u.Kind {
	case UpdateItem:
		dst = &u.Item
	case UpdateSkill:
		dst = &u.Skill
	default:
		dst = &u.Defaults
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return Update{}, fmt.Errorf("catalog update %q: cannot parse value: %w", k, err)
	}
	return u, nil
}
