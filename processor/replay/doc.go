// Package replay turns attempt logs (the ASSISTments "preprocessed_data"
// format: tab-separated user_id, item_id, timestamp, correct, skill_id, with
// a q-matrix of item → skill) into realistic xAPI statements, and sends them
// to NDJSON or to Kafka at a chosen rate. The load benchmark reuses the
// generator, so it appends statements into a caller's buffer without
// allocating.
//
// # Mapping
//
//   - learner → actor {"objectType":"Agent","account":{"homePage": <home>,
//     "name": <user_id>}}; the home page is fixed per dataset
//     (DefaultHomePage(dataset)).
//   - item → object activity id <base>/items/<item_id>, type
//     cmi.interaction; the problem set (skill_id column, the item's set of
//     skills) → a context parent activity <base>/problem-sets/<skill_id>.
//   - skills (q-matrix) → context.contextActivities.category activities
//     <base>/skills/<skill_index>, one per skill of the item. An item absent
//     from the q-matrix gets the single skill <base>/skills/set-<skill_id>.
//   - correct → result.success, result.score {scaled 1|0, raw 1|0, min 0,
//     max 1}, verb answered. result.completion is left out: answering
//     one problem is an attempt, not a completion (so the engine decides
//     such pairs by mastery; the evaluator scores completed-once apart).
//   - time → timestamp. With timestamps in the data (seconds from a
//     dataset origin) time = Epoch + timestamp. When every timestamp is 0 (the
//     2009 release) the k-th answer of every learner (k = 0, 1, ...) is
//     placed at Epoch + k·Gap: learners' histories keep their order and the
//     global order (time, user, row) interleaves learners round-robin.
//     result.duration is the time since the learner's previous answer,
//     capped at 10 minutes (absent on a learner's first answer).
//   - id → a name-based (version 5) UUID of "<dataset>/<file>#<line>", so a
//     replay of the same file always yields the same statement ids and the
//     processor's duplicate detection sees a re-run as duplicates.
//
// The context also carries a registration (a UUID of dataset + user), the
// platform, the language, the course as a grouping activity and extensions
// naming the dataset, file row and the learner's answer index, so statements
// weigh about 1.5 KB like those of a real LMS.
package replay
