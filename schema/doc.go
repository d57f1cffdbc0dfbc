// Package schema reads xAPI statements (versions 1.0.3 and 2.0.0), checks
// them against the spec, and normalizes each valid one into Evidence, the
// only form of a learning event the rest of unpair sees.
//
// # Pipeline
//
// A Decoder runs three steps over a document (one statement, or an array):
//
//  1. A token-level JSON parser (jsontree.go) builds a flat tree in a
//     reusable arena. It enforces Options.MaxBytes before reading and
//     Options.MaxDepth while reading, keeps every member of an object (so
//     duplicate keys are seen: encoding/json silently keeps the last one),
//     and rejects invalid UTF-8. The arena is pointer-free: nodes and
//     members refer to each other by int32 index and to their text by
//     (offset, length) spans into the document or, for strings that
//     carried escapes, into one decode buffer, so the GC never scans it
//     and appending costs no write barrier. Strings are scanned a word
//     (8 bytes) at a time up to the first quote, backslash, control or
//     non-ASCII byte.
//  2. A single-pass validator (validate.go, validate_parts.go) walks the
//     tree, checks every rule of the data model (required properties,
//     types, IRIs, UUIDs, RFC 5646 language maps, ISO 8601 timestamps and
//     durations, score bounds, actors and their IFIs, object types and the
//     SubStatement restrictions, voiding, version, attachments, unknown and
//     wrong-case keys) and collects the facts normalization needs. Paths
//     are built in a byte buffer and become strings only for a violation.
//  3. Normalization (decoder.go) turns the facts into Evidence: the learner
//     key (LearnerKeyer over the canonical IFI), the content key (the
//     object's activity id), the Kind from the VerbMap, result fields,
//     progress, rating, skills, id and time.
//
// Every violation of a statement is reported (up to Options.MaxErrors),
// each with its JSON path and rule: "result.score.scaled: must be within
// [-1, 1], got 1.5". A rejection is an *Error with a fixed Reason for the
// dead-letter header and metric labels (Reasons lists them).
//
// # Modes
//
// Strict applies the spec as the shared test vectors decide. Tolerant, the
// default for ingestion, accepts the deviations real emitters produce when
// the evidence stays unambiguous: activity ids that are not IRIs, context
// activities without an id, objectType "GroupActivity", unknown properties
// (an mbox inside account among them), an account without homePage,
// extensions directly on an Activity, score.min == score.max. Each accepted
// deviation is recorded as a note in Evidence.Notes and as a kind in
// Evidence.Deviations (a fixed set, see Deviations), so the pipeline can
// count them. What cannot be interpreted is still rejected: no learner, no
// content key, a contradictory result (verb passed with success false),
// keys in the wrong case or repeated.
//
// Options.Spec picks the version rules: by default a statement's own
// version property decides (1.0.x: 1.0.3 rules; 2.0.x: 2.0 rules, with
// contextAgents/contextGroups and RFC 3339 timestamps), and without one
// whatever either version allows is accepted.
//
// # Ingestion rules beyond the spec
//
// Normalize also rejects statements that are valid xAPI but carry no
// evidence about one learner and one content item: an anonymous Group as
// actor (no IFI to key), an object that is not an Activity (except for
// voiding, which gives KindVoid with Voids set), an Activity without id.
// A statement without id gets a deterministic id derived from a SHA-1 of
// its bytes (version-5 layout), so replays produce the same id.
//
// # Concurrency and cost
//
// A Decoder is safe for concurrent use; its configuration is read-only
// after NewDecoder and per-call scratch (parser arena, validator state,
// HMAC state, canonical-IFI buffer) comes from a sync.Pool, so a steady
// stream of Normalize calls allocates only the strings the Evidence keeps:
// Learner and Content (Verb is the VerbMap's own string for a known verb),
// plus Skills and Notes when there are any. TestNormalizeAllocations pins
// these counts. The learner key is built without intermediate strings
// (keymac.go): the canonical IFI goes into a scratch buffer (ASCII
// identifiers; anything else takes the Canonical* string functions, whose
// Unicode rules define the form), and the HMAC reuses a hash whose Reset
// restores the precomputed padded-key state. LearnerKeyer.Key pools the
// same state. Figures: docs/benchmarks/schema.md.
//
// # Hostile input
//
// Nothing in the package panics on any input; FuzzNormalize guards that.
// Every check costs time linear in the document: repeated object keys,
// interaction component ids and skill ids are found by comparing pairs up
// to 16 entries (no table, no allocation) and through dupIndex above that,
// an open-addressing table of (hash, span) slots seeded per decoder scratch
// (hash/maphash, so keys cannot be crafted to collide), pointer-free and
// reused. TestHostileStatementsCostLinear pins it: a statement of the
// largest accepted size made of sibling entries costs per entry what a
// 1000-entry one does.
//
// Normalize bounds what the engine keeps for good (it interns content and
// skill ids), in both modes: object.id at most Options.MaxActivityIDBytes
// (2048), at most Options.MaxSkills (32) distinct skill ids per statement,
// each at most Options.MaxSkillIDBytes (256); rejections carry the reasons
// id_too_long and too_many_skills and the path of the offending value.
// Validate applies only the xAPI rules, not these limits. Evidence never
// holds NaN or Inf (a score range wider than the largest float64 is
// computed on halves), and a timestamp whose unix nanoseconds do not fit in
// an int64 (outside 1677-09-21T00:12:44Z .. 2262-04-11T23:47:16Z) is a
// violation instead of a wrapped time. Rules about an agent's mbox,
// mbox_sha1sum or openid say what is wrong without quoting the value:
// violations end up in dead-letter headers and logs.
//
// ReadStream splits a single statement, an array or NDJSON into raw
// statements with index and line numbers, for the validate command.
package schema
