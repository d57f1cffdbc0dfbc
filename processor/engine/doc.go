// Package engine turns normalized evidence (schema.Evidence) into per-learner
// mastery state and per learner-content decisions (processor/decision). It is
// pure computation: no I/O, no clocks (every time comes from the evidence or
// from the caller), no goroutines.
//
// # API
//
//	e, _ := engine.New(engine.DefaultConfig(), cat) // one Engine per goroutine
//	l := e.NewLearner(learnerKey)                   // or e.LoadLearner(key, stored)
//	outcome := e.Apply(l, &ev, engine.Source{Partition: p, Offset: off})
//	var ch engine.Changes
//	l.Changes(&ch)        // decisions, skills and events changed since the last Clean
//	state, _ := l.MarshalBinary()
//	... make state, ch.Decisions, ch.Skills and ch.Events durable ...
//	l.Clean(ch.Mark)      // forget what was made durable
//	e.Due(l, nowMs)       // review-due sweep: emits unsuppressed/review_due events
//
// Apply does not allocate in steady state: a decision event is recorded as
// a compact copy of the item and what its decision rests on, and becomes a
// decision.Event (id, explanation sentence) only in Learner.Changes.
//
// An Engine is not safe for concurrent use: it interns content and skill ids
// into small integers so that per-pair state stays compact; the sharded
// aggregator (processor/shard) runs one Engine per shard goroutine. A Learner
// belongs to the Engine that made it. The catalog is read through its atomic
// snapshot pointer, so catalog updates apply from the next evidence on.
//
// # State
//
// Per learner: the applied Kafka position (offset, index) per source
// partition and, for re-keyed input, per origin partition, a window of
// recent statements (for voiding and duplicate ids), one item cell per
// content touched and one skill cell per skill touched. Each cell keeps the
// state of every model at once (BKT P(known) float64, streak, EWMA and Elo
// ability as float32, scored attempts and correct answers, last practice and
// last wrong answer times), so the model choice is a policy value that can be
// changed without losing history. The state is laid out for memory: times
// are 32-bit unix seconds (decisions are made and published to the
// second); an item is 108 bytes (4-byte aligned: P(known) and the
// fingerprint are kept as two 32-bit halves) with its published decision,
// engagement and the fingerprint of its last handed-out decision, a skill
// cell 40 with its publication bits; rarely used state (an operator's
// override, positions of further partitions, origin positions, voids
// awaiting their statement) lives in a side table allocated on first use;
// a per-learner index from skill to the items sharing it drives fan-out.
// Content with skills (from the catalog, or carried on the statement when
// the catalog has no entry for the content) updates its skills' cells; the item cell is updated too and decides content
// without skills. Skills without fitted BKT parameters use the streak rule
// (cold start) when the model is bkt. Elo uses the item's catalog difficulty.
//
// # Engagement
//
// Every statement about a content (launch, experience, progress, other,
// unscored attempts included, not only scored answers) is applied to the
// pair's engagement (engagement.Pair: launches, attempts, completions,
// time spent, furthest progress, first/last seen, started, completed, last
// verb), kept in a 32-byte compact form inside the item's voidable state,
// so a void replays engagement exactly like mastery. Such statements are
// kept in the window too (duplicate ids and voids), but change no mastery,
// completion or feedback state and write no decision. The mastered mark
// (Pair.MasteredAt) follows the pair's decision as judged on a statement
// (an answer, on the content or a sibling sharing a skill, or a void); the
// review sweep and overrides do not move it, since a figure moved without
// a stream position could not be replayed exactly.
//
// Changes hands out, per learner, the current engagement of changed pairs
// (Changes.Engagement, for the learner's engagement hash) and every change
// made by a statement with a source offset, with the pair before and after
// (Changes.EngagementChanges), which EngagementChange.Feed adds to the
// partition's engagement.Aggregator: the per-content figures then equal the
// contributions of the current pairs whatever the flush boundaries.
//
// SweepBarelyTouched (run by Due; NextDue includes it) marks pairs barely
// touched under Config.Engagement, with Config.TypicalTime (default 10
// minutes: the catalog has no per-content time) as every content's typical
// time, and records one decision.EventBarelyTouched per pair and episode;
// new activity on the pair starts a new episode. Suppressed and mastered
// pairs are never reported. The event id (learner, content, latest
// activity) is the same whichever owner sweeps the episode.
//
// # Policy
//
// A pair is suppressed, in this order of precedence, by:
//   - manual: an operator's override (Engine.Override), until its end;
//   - feedback: a rating with scaled <= FeedbackMaxRating or a dislike, for
//     FeedbackTTL from the feedback (reason expired when it runs out);
//   - completed: completed with success (SuppressCompleted), until a later
//     wrong answer on the content itself, or review due;
//   - mastered: every skill of the content (or the item itself when it has
//     none) is mastered under the configured model, with at least
//     MinAttempts scored attempts and the last one correct.
//
// The default model is item-aware Elo (DefaultConfig: K 0.4, threshold 0.7
// on P(correct) for the content's own difficulty, at least 2 attempts): on
// real ASSISTments logs it is the only policy whose operating curve
// (precision@3 against attempts saved) lies above 3-in-a-row's on both
// datasets, where BKT at 0.95 does not (docs/evaluation.md). A skill's
// ability is shared by its items, so an easy item is suppressed before a
// hard one. It needs fitted difficulties in the catalog (unpair fit); BKT
// (0.95, strict 0.98), streak and EWMA remain selectable with Config.Model.
// Explanations name the deciding model's estimate: "Mastered: 81% chance
// you'd answer this right, after 3 of your 4 answers correct; review due
// 12 Mar 2027."
//
// Mastered and completed suppressions last until review is due: the last
// practice plus mastery.HalfLife(correct, wrong) (for several skills, the
// earliest of them). Decisions are evaluated at the time of the evidence
// being applied; a pair whose Until has passed counts as not suppressed for
// readers, and Due emits the unsuppressed/review_due events for them.
//
// # Correctness properties
//
// Idempotence: evidence whose Source position (Offset, Index), compared
// lexicographically, is not after the position recorded for its partition
// is a no-op (Stale): the statements of one JSON-array message share an
// offset and differ by index, so each applies once. When the statement came
// through the re-key stage (Source.Origin valid), its origin position must
// also be after the learner's applied position of the origin partition: a
// batch the re-key stage produced twice gets new by-learner offsets, but
// its origin positions repeat, however many statements lie between the
// copies (per learner, one origin partition's statements arrive in origin
// order). Origin positions live in the side table, one per origin
// partition. A statement id already in the window is a no-op (Duplicate).
// Positions and the window are part of the serialized state, so redelivery
// after a restart is harmless. Event ids carry the index when it is not 0.
//
// Order: evidence is applied in arrival order (per learner, Kafka order). The
// models are per-attempt (BKT forgetting is a per-attempt transition), so
// arrival order decides; times only move forward: last practice, completion
// and feedback times never move backwards when a late statement arrives, and
// review-due is computed from the latest practice. A late statement still
// counts as an attempt.
//
// Voiding: the window keeps between Window and 2*Window recent statements
// in two epochs, and, for every cell touched during an epoch, a copy of the
// cell as it was when the epoch began (copy on first touch). A void of a
// statement in the window restores the cells to the start of the older
// epoch, drops the voided statement and replays the rest of the window:
// the result is exactly the state had the voided statement never arrived.
// Decisions that change emit events with reason voided (when a suppression
// ends) or their new reason. A void whose target is not in the window is
// counted (Outcome VoidUnmatched) and remembered in a small bounded list, so
// that the target is dropped if it arrives later (a void overtaking its
// statement); if the target was older than the window its evidence stays:
// the stream moved on and that is reported, not silently undone.
//
// Fan-out: an answer changes the state of every skill of its content, so
// every item of the learner sharing one of those skills is decided again,
// for every model (under elo an easier or harder sibling can become
// mastered, or stop being mastered, without the answered item's decision
// changing; under every model a suppressed sibling's review date moves with
// the skill's last practice). After any evidence (and the review sweep at
// its time) every pair's published decision equals one made from scratch
// (TestEveryDecisionIsFresh).
//
// Flush-timing independence: Changes hands out every re-decided pair whose
// full Decision (suppression, times, evidence figures, explanation) differs
// from the one last handed out, compared by a 64-bit fingerprint kept per
// item; a pair handed out by a Changes call is handed out again until the
// Clean of that call says it is durable. So the stored decisions equal the
// current ones whatever the flush cadence, failed flushes included
// (TestPublishedDecisionsIndependentOfFlushCadence), and a re-decided pair
// whose Decision did not move is not written again.
//
// # Apply cost
//
// Apply runs for every statement, so it avoids work that does not change
// its result: judging a pair (the answered one and every sibling) tests
// Elo mastery by comparing ability - difficulty with the logit of the
// threshold, computing the sigmoid only within a narrow band around it
// (where rounding could decide), so a decision costs no exp; the estimate
// is computed only for what is shown (events, Changes). Review half-lives
// come from a table of mastery.HalfLife. Engagement is applied to the
// compact form directly (the same result as engagement.Pair.Apply through
// the Pair, tested on random states). A 64-bit filter of the window's
// statement ids tells most new ids absent without scanning the window.
// Each statement's item is searched once. Per-learner slices grow by a
// quarter into the allocator's size class. That slack is the price of
// appending without reallocating each time; Learner.Trim (trim.go) gives
// it back, reallocating each slice with more than an eighth spare to its
// length's size class, for idle learners only (the shard calls it for
// learners clean and unchanged for a while), never on the Apply path.
//
// # Flush cost
//
// Changes and AppendBinary run for every changed learner at every flush,
// so they avoid allocation: explanations and event ids are appended with
// strconv into engine buffers (one string per decision handed out), skill
// name lists are built once per skill set and shared, and AppendBinary
// indexes its name and set tables through generation-stamped arrays
// instead of maps and sorts reused index slices (slices.SortFunc) for the
// canonical order; AppendOffsets reads offsets into the caller's slice.
//
// Untouched content: the engine decides only pairs the learner has
// touched; content the learner never saw is decided by readers from the
// learner's published skills. Changes.Skills hands out every skill cell
// whose published form (mastery.Skill: the deciding model, its threshold,
// whether MinAttempts and "last answer correct" hold, the model's value,
// counts and times) may have changed since it was last handed out and
// cleaned, with the same "again until the Clean of that Changes call"
// rule as Decisions, so the stored skills equal the current cells whatever
// the flush cadence. A reader resolves catalog content -> skills and
// difficulty and applies mastery.Judge, which is the rule view applies to
// content with skills (mastered, review due, weakest estimate; tested
// against view for every model, TestPublishedSkillsDecideUntouchedContent).
// A skill is marked when an answer updates it, when a void's replay leaves
// it different (cells are compared before and after, so most voids mark
// nothing), and on load (the stored state does not say what was
// published). Under bkt the published form depends on the skill's catalog
// parameters (streak without them, P(known) eligible only once estimated):
// a change of them marks the skill at the learner's next Changes (an 8-bit
// generation per cell; 256 changes of one skill's parameters between two
// flushes of a learner would go unnoticed). Like decisions, catalog changes
// reach a learner's published state at its next flush, which needs new
// evidence of that learner.
//
// Intern tables: content ids, skill ids and skill sets are interned into
// engine-local integers, and the tables grow with every new id. Compact
// (compact.go) bounds them: given every live learner, it drops the
// entries none of them references (items, skill cells, window entries,
// checkpoints, pending events and engagement changes, overrides; plus the
// catalog-resolved sets of the contents kept) and renumbers the rest in
// order, remapping every reference in the learners and rebuilding the
// maps and caches. CompactDue says when a table has grown past max(2x its
// size after the last compaction, a floor): the shard checks it between
// batches. Renumbering keeps ids in order, and nothing published depends
// on id values (decision fingerprints hash skill set names, not set ids),
// so a compacting engine hands out what a never-compacting one does
// (TestCompactionIsExact); only the order of pairs within one learner's
// Changes follows ids (as it already did across reloads). A learner not
// passed to Compact must not be used with the engine again.
//
// Versions: LoadLearner and UnmarshalBinary read the current state format
// and the previous one; a state whose format version is above the newest
// this code knows was written by a newer release and returns
// ErrNewerFormat (errors.Is), distinct from a corrupt state: a caller
// must not start such a learner new, since writing it back would wipe the
// learner's history (the shard retries the load with backoff instead).
//
// Determinism: a learner's state depends only on that learner's evidence in
// its order and the catalog; learners share nothing but the intern tables,
// which are not part of the serialized state (it stores the strings).
//
// Panics: a caller may recover a panic inside an engine call (the shard
// does, and rebuilds the learner). The engine's shared state stays
// usable: the catalog caches are committed whole, their snapshot last
// (resolve, skillParams), the scratch that spans a call is reset at the
// entry of Apply, Changes, AppendBinary, Override, Due and
// SweepBarelyTouched, and buffers are reset where used
// (TestEngineScratchAfterRecoveredPanic).
package engine
