// Package simulate generates a deterministic cohort of simulated learners as
// the xAPI statements an LMS would forward: JSON bytes of 1-2 KB each, with an
// account or mbox actor, a displayed verb, an activity with its definition,
// a result, and a context carrying the platform, the course registration and
// context activities (parent lesson, grouping course, category skills). It
// feeds the one-command demo, end-to-end tests and the load benchmark.
//
// # Model
//
// A course has Skills skills; each skill has one lesson (a cmi5 AU) and a
// share of the Items question items, each item with a difficulty and one or
// two skills. Generator.Catalog returns it; Catalog.File and WriteJSON give
// the engine's catalog file (processor/catalog), Catalog.Records the records
// of the compacted catalog topic, so the demo can load what the cohort uses.
//
// Each learner holds a latent, binary known/unknown state per skill, as in
// Bayesian Knowledge Tracing: an answer is right with probability 1-slip when
// the skill is known and guess when it is not (both shifted by the item's
// difficulty); after each practice opportunity an unknown skill becomes known
// with the learner's learn rate (LearnRate scaled by a per-learner ability);
// a known skill is forgotten between sessions with probability
// 1-2^(-gap/ForgetHalfLife). Learners move through the skills in course
// order and sometimes go back to review an earlier one.
//
// A session is launched, initialized, a few answered questions with
// progressed (cmi5 progress extension) after every second one, passed or
// failed with the share correct, completed, and terminated with
// result.duration; AbandonShare of sessions stop early with abandoned. Some
// sessions also carry a rating (rated, raw 1-5, LowRatingShare of them 1 or
// 2), a dislike (acrossx disliked) or a void (voided verb with a StatementRef
// to an earlier statement of the same learner). DuplicateShare of valid
// statements are sent again, byte for byte, a little later, and
// InvalidShare of statements are replaced by a broken one (see Defects).
//
// # Time order and scale
//
// Session starts arrive as a Poisson process over Span; each start picks a
// learner uniformly or from a Zipf distribution. A learner already in a
// session queues the new one after the current ends. Sessions interleave;
// Generator.Next merges them (and pending duplicates) with a binary heap, so
// messages come out in global time order with memory proportional to the
// sessions in flight plus a few hundred bytes per learner seen. Everything
// flows from one PCG stream seeded with Config.Seed: the same Config yields
// the same bytes, always.
//
// Statement JSON is appended by hand into a reused buffer (no reflection).
// Next returns messages that own their Value; AppendNext appends into the
// caller's batch buffer instead, for load generators (see
// docs/benchmarks/simulate.md). Cohort generates a whole cohort at once.
//
// Message also carries ground truth the wire does not: the learner's
// canonical IFI, the Defect of an invalid statement, and whether it is a
// duplicate; Stats counts what was produced, for end-to-end assertions.
package simulate
