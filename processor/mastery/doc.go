// Package mastery holds the mastery models unpair can run per learner-skill
// or learner-content pair: Bayesian Knowledge Tracing with forgetting, N
// correct in a row, an EWMA of correctness and an item-aware Elo model (the
// engine's default policy since the evaluation on ASSISTments data, see
// docs/evaluation.md). Each is a small parameter struct with pure O(1)
// update functions over a few bytes of state the caller owns, so the engine
// can keep state compact and the evaluator can run the very same arithmetic
// offline.
package mastery
