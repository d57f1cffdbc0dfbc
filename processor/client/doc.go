// Package client is the Go client recommendation services import to ask
// unpair which contents are suppressed for a learner.
//
//	c, err := client.New(rdb, client.Options{Secret: secret, Catalog: cat})
//	ok, d, err := c.Suppressed(ctx, "mailto:alice@example.com", "https://example.org/q1")
//	allowed, suppressed, err := c.Filter(ctx, learner, candidates) // one HMGET
//	pairs, err := c.Engagement(ctx, learner, contents)             // one HMGET
//
// It reads the v1 layout written by processor/store: Suppressed is one HGET
// on the learner's decisions hash (plus the skills HMGET below), Filter one HMGET for any number of
// contents (order preserved), Explain the stored decision with whether it
// is in force and the pair's engagement (one pipelined round trip),
// Engagement what the learner did with each content (launches, attempts,
// completions, time spent, progress, first/last seen, barely touched) from
// the learner's engagement hash. A decision counts as suppressing only while its until (if
// any) lies ahead of Options.Now: the client, not Redis, applies expiry, so
// a review that fell due is allowed again the moment it falls due.
//
// Content the learner never touched has no stored decision (the engine
// decides only what it saw). With Options.Catalog the client decides it at
// read time, still in one round trip: the HMGET of the decisions is
// pipelined with an HMGET of the learner's ":k" skill states for the union
// of the contents' catalog skills, and a content without a stored decision
// is suppressed when mastery.Judge over its skills (in the catalog's order,
// at its difficulty) says mastered and the earliest review due lies ahead.
// A stored decision always wins: the engine's decision of touched content
// is authoritative. Derived decisions are marked (Suppression.Derived,
// Explanation.Derived); their Since is the latest practice of the skills,
// their Until the earliest review due, their evidence the weakest skill's.
// Without a catalog, untouched content is always allowed. A skill value
// this client cannot read (a later value format, or damage) counts as
// never practised, so the content it decides stays allowed rather than
// failing every read of the learner; Client.UnreadableSkills counts them.
//
// A Learner can be a learner key, an IFI string or an xAPI actor JSON; the
// client derives the key exactly as the processor does (schema.Canonical*
// and schema.LearnerKeyer with the deployment secret), so the raw identity
// never reaches Redis.
package client
