// Package eval scores suppression policies on real attempt logs, with the
// engine's own arithmetic, so that the engine's default policy is chosen on
// evidence.
//
// # Method
//
// Learners are split into train and test by a seeded hash of the user id
// (IsTest). processor/fit fits BKT per skill (with and without forgetting)
// and Elo item difficulties on the training learners only. Each test
// learner's history is then replayed in time order through a simulation of
// the engine's state (sim): one cell per skill holding every model at once,
// updated by mastery.BKT.Update, mastery.Streak.Update, mastery.EWMA.Update
// and mastery.Elo.Update exactly as processor/engine does (EWMA and Elo
// ability stored as float32), and the engine's rules: mastered needs
// MinAttempts scored attempts and the last answer correct; content is
// suppressed when every one of its skills is mastered, until its review is
// due (last practice + mastery.HalfLife). Skills without fitted BKT use the
// streak rule, as in the engine. TestEngineAgreesWithEvaluator checks the
// real system against this simulation on real data, before every attempt:
// the engine's changes written to Redis with processor/store after each
// statement, read back with processor/client (with the catalog) at the
// attempt's time. Content the learner touched is answered from its stored
// decision; content never touched from the learner's published skill
// states (the ":k" hash, decided with mastery.Judge), so the skill-level
// suppression of untouched items counted here is what the system does.
//
// Before each attempt the policy says whether the attempted content would
// have been hidden: that attempt is "saved". The model then sees the answer
// (the data is what happened; the counterfactual learner who never saw the
// content is not simulated).
//
// # Pairs
//
// The engine decides per learner × content (item). In the skill-builder
// data almost no item is answered twice by one learner (4,044 of 274,112
// pairs in 2009), so item-level pairs would leave precision unmeasurable.
// Skill-level mastery suppresses every item of the skill, including items
// the learner never touched (the client decides those at read time from
// the learner's skill states); so the evaluator aggregates items by problem
// set (the dataset's skill_id: the items' set of skills). Every item of a
// problem set has the same skills, so skill-level policies suppress them
// together. A pair is therefore learner × problem set. Completed-once and
// Elo decide per item, and are scored on the same pairs.
//
// # Metrics (Result)
//
//   - suppression point of a pair: its first attempt that the policy hid;
//     a pair also counts as suppressed if it is suppressed after the
//     learner's last attempt (no later evidence).
//   - precision@k: among suppressed pairs with at least k attempts from the
//     suppression point on (the evaluable ones), the share whose next k
//     attempts are all correct; the evaluable share is reported beside it.
//   - false-suppression@1: the share of saved attempts answered wrong.
//   - recall: the share of pairs mastered in the data (last 3 attempts
//     correct) that got suppressed.
//   - attempts saved: saved attempts, total and share of test attempts, and
//     the median per suppressed pair.
//   - time to suppress: attempts on the pair before the suppression point,
//     and the time from the pair's first attempt to the evidence that
//     suppressed it (medians).
//
// Each policy family is swept over its threshold; the sweep is an operating
// curve (precision@3 against attempts saved), drawn by Report.WriteSVG. The
// bar (Report.Bar) asks whether the candidate's upper envelope lies above
// the 3-in-a-row family at every baseline point within the candidate's
// range that has at least MinEvaluable evaluable pairs.
package eval
