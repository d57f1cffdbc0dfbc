// Package catalog holds what unpair knows about content independent of any
// learner: which skills a content item exercises, the fitted BKT parameters
// of each skill (absent parameters mean the cold-start streak rule), the
// global Elo difficulty of each item, and defaults for content the catalog
// does not list.
//
// # Snapshots
//
// A Snapshot is immutable once built, so any number of goroutines read it
// without locks. A Catalog holds the current Snapshot in an atomic.Pointer;
// replacing the catalog is one pointer swap (Store), and readers that took
// the old snapshot keep a consistent view until they take the next one.
//
// Live updates (the pipeline reads the compacted unpair.catalog topic) go
// through Apply: Snapshot.Apply(updates...) returns a new Snapshot and
// leaves the receiver untouched; Catalog.Apply does that and swaps the
// pointer with compare-and-swap, retrying if another writer got in first.
// To keep a stream of single updates cheap on a large catalog, a Snapshot
// is a shared base map plus a small overlay of changes: Apply copies only
// the overlay, and folds it into a fresh base once it grows past a fraction
// of the base (amortized O(1) per update). Every Snapshot carries a Version
// that increases with each Apply, so callers can cache lookups per version.
//
// # Files
//
// Load reads JSON:
//
//	{
//	  "defaults": {"bkt": {"l0":0.3,"t":0.1,"g":0.2,"s":0.1,"f":0.01}, "difficulty": 0},
//	  "skills":   [{"id": "fractions", "bkt": {"l0":0.4,"t":0.2,"g":0.2,"s":0.1,"f":0}}],
//	  "items":    [{"content": "https://example.org/q/1", "skills": ["fractions"], "difficulty": 0.7}]
//	}
//
// or CSV (by extension .csv), one kind of row per file, told apart by the
// header: "content,skills,difficulty" (skills separated by ';') or
// "skill,l0,t,g,s,f". Validation errors name the entry and the field, e.g.
// `skills[3] "fractions": bkt.g: must be below 0.5 ...`.
//
// # Compacted-topic updates
//
// ParseUpdate turns one record of the compacted topic into an Update: key
// "item:<content>" or "skill:<id>" with a JSON value of an Item or a Skill,
// or key "defaults" with a Defaults value; an empty value (a tombstone)
// deletes the entry (for "defaults": resets them).
package catalog
