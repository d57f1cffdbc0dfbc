// Package store is unpair's Redis layout (key schema v1) and its writer.
//
// The layout is designed for the reader. Everything about one learner lives
// under keys that share the learner key as cluster hash tag, so it sits in
// one slot and works unchanged on Redis Cluster:
//
//	<prefix>:v1:{<learnerKey>}:d   hash   content id -> encoded decision
//	<prefix>:v1:{<learnerKey>}:s   string the engine's opaque resume state
//	<prefix>:v1:{<learnerKey>}:o   hash   source partition -> last applied offset
//	<prefix>:v1:{<learnerKey>}:e   hash   content id -> encoded engagement (EncodeEngagement)
//	<prefix>:v1:{<learnerKey>}:k   hash   skill name -> mastery.AppendSkill of the learner's skill state
//
// "Is content C suppressed for learner L?" is one HGET on the :d hash;
// "which of these 100 contents are?" is one HMGET. A decision value starts
// with a small head, "<0|1>|<reason>|<until ms>|", followed by the decision
// JSON (processor/decision.Decision), so a reader decides without parsing
// JSON; a decision whose until has passed counts as not suppressed (readers
// compare with their clock). Not-suppressed decisions are stored too (flag
// 0), so a reader can explain why a suppression ended; absence means unpair
// never suppressed the pair. Keys hold no raw personal data: the learner
// appears only as its HMAC key (ValidateLearnerKey rejects anything that is
// not [0-9A-Za-z_-]), content ids are not personal.
//
// Writes: WriteBatch sends many learners in one pipeline; each learner is
// applied by one Lua script (EVALSHA, falling back to EVAL on NOSCRIPT) that
// compares the write's offset with the stored offset of its source partition
// and applies only if newer, writing the offset last. So writes are
// idempotent under Kafka redelivery and go-redis pipeline retries, and a
// replay after a crash converges to the state of one clean pass. Every
// command's error in the pipeline is checked.
//
// A pair's engagement (engagement.Pair as the engine keeps it, with the
// barely-touched mark) is one :e field per content, "1|<first>|<last>|...",
// absolute values written in the same guarded script as the decisions
// (EngagementField builds it, DecodeEngagement reads it; engagement.go
// documents the fields).
//
// The :k hash holds the learner's state of every skill it practised
// (LearnerWrite.Skills, absolute values, same script and offset guard as
// the decisions), so a reader can decide catalog content the learner never
// touched: such content is suppressed when mastery.Judge says all its
// skills are mastered (processor/client applies it at read time). Data
// written before :k existed simply has no :k; readers then allow untouched
// content, as they always did.
//
// Reads for the engine: LoadState and Load (batched, with offsets, so the
// engine can skip replayed events its stored state already reflects).
// Forget erases a learner with one DEL. The query side is processor/client.
//
// docs/redis-keys.md documents the layout with redis-cli examples.
package store
