package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestReadJSONValidation(t *testing.T) {
	for _, tc := range []struct {
		name, json, wantErr string
	}{
		{"ok", `{"skills":[{"id":"a","bkt":{"l0":0.3,"t":0.1,"g":0.2,"s":0.1,"f":0}}],"items":[{"content":"q1","skills":["a"],"difficulty":1}]}`, ""},
		{"guess too high", `{"skills":[{"id":"a","bkt":{"l0":0.3,"t":0.1,"g":0.5,"s":0.1}}]}`, `skills[0] "a": bkt.g: must be below 0.5`},
		{"slip too high", `{"skills":[{"id":"ok"},{"id":"b","bkt":{"l0":0.3,"t":0.1,"g":0.1,"s":0.7}}]}`, `skills[1] "b": bkt.s: must be below 0.5`},
		{"duplicate item", `{"items":[{"content":"q"},{"content":"q"}]}`, `items[1] "q": content: listed twice`},
		{"empty skill", `{"items":[{"content":"q","skills":[""]}]}`, `items[0] "q": skills[0]: must not be empty`},
		{"unknown field", `{"items":[{"content":"q","dificulty":1}]}`, `unknown field "dificulty"`},
		{"bad default", `{"defaults":{"bkt":{"l0":2}}}`, `defaults: bkt.l0: must be within [0, 1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadJSON(strings.NewReader(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				it, ok := s.Item("q1")
				sk, ok2 := s.Skill("a")
				if !ok || !ok2 || it.Difficulty != 1 || sk.BKT == nil || sk.BKT.G != 0.2 {
					t.Fatalf("item %+v skill %+v", it, sk)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadCSV(t *testing.T) {
	dir := t.TempDir()
	items := filepath.Join(dir, "items.csv")
	os.WriteFile(items, []byte("content,skills,difficulty\nq1,a;b,0.5\nq2,,\n"), 0o644)
	s, err := Load(items)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := s.Item("q1"); !ok || len(it.Skills) != 2 || it.Skills[1] != "b" || it.Difficulty != 0.5 {
		t.Fatalf("q1 = %+v", it)
	}
	skills := filepath.Join(dir, "skills.csv")
	os.WriteFile(skills, []byte("skill,l0,t,g,s,f\na,0.3,0.1,0.2,0.1,0\nb,0.3,0.1,0.6,0.1,0\n"), 0o644)
	if _, err := Load(skills); err == nil || !strings.Contains(err.Error(), `skills[1] "b": bkt.g`) {
		t.Fatalf("err %v", err)
	}
	os.WriteFile(skills, []byte("skill,l0\na,x\n"), 0o644)
	if _, err := Load(skills); err == nil || !strings.Contains(err.Error(), "line 2: l0: not a number") {
		t.Fatalf("err %v", err)
	}
}

func TestApplyLeavesOldSnapshot(t *testing.T) {
	s, _ := New(Defaults{}, nil, []Item{{Content: "q1", Difficulty: 1}})
	var cur = s
	for i := range 500 { // past the overlay fold threshold
		u, err := ParseUpdate([]byte(fmt.Sprintf("item:q%d", i)), []byte(fmt.Sprintf(`{"difficulty":%d}`, i%7)))
		if err != nil {
			t.Fatal(err)
		}
		n, err := cur.Apply(u)
		if err != nil {
			t.Fatal(err)
		}
		if n.Version() != cur.Version()+1 {
			t.Fatalf("version %d after %d", n.Version(), cur.Version())
		}
		cur = n
	}
	if it, _ := s.Item("q1"); it.Difficulty != 1 {
		t.Fatalf("old snapshot changed: %+v", it)
	}
	if it, _ := cur.Item("q1"); it.Difficulty != 1 {
		t.Fatalf("q1 in new snapshot: %+v", it)
	}
	if it, _ := cur.Item("q499"); it.Difficulty != 499%7 {
		t.Fatalf("q499: %+v", it)
	}
	del, _ := ParseUpdate([]byte("item:q1"), nil)
	n, _ := cur.Apply(del)
	if _, ok := n.Item("q1"); ok {
		t.Fatal("tombstone did not delete")
	}
	if items, _ := n.Len(); items != 499 {
		t.Fatalf("len %d, want 499", items)
	}
	for _, bad := range []struct{ k, v string }{
		{"item:q", `{"content":"other"}`},
		{"skill:s", `{"bkt":{"l0":0.1,"g":0.9}}`},
		{"nope", `{}`},
		{"item:", `{}`},
	} {
		u, err := ParseUpdate([]byte(bad.k), []byte(bad.v))
		if err == nil {
			_, err = n.Apply(u)
		}
		if err == nil {
			t.Errorf("update %s=%s accepted", bad.k, bad.v)
		}
	}
}

func TestCatalogConcurrentApply(t *testing.T) {
	c := NewCatalog(nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := c.Apply(Update{Kind: UpdateItem, Key: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
				}
				c.Snapshot().Item("w0-0")
			}
		}()
	}
	wg.Wait()
	if items, _ := c.Snapshot().Len(); items != 400 {
		t.Fatalf("%d items, want 400 (an update was lost)", items)
	}
}
