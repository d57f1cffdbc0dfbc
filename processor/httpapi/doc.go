// Package httpapi is unpair's HTTP query API: which contents are
// suppressed for a learner, and why. It is a thin layer over
// processor/client (one Redis round trip per request); New returns an
// http.Handler that `unpair run` and `unpair demo` mount beside /metrics,
// /healthz and /readyz.
//
// # Endpoints
//
// {learner} is a learner key or a URL-escaped IFI (mailto:, sha1:,
// account:<homePage>|<name>, openid:), e.g. mailto%3Aalice%40example.com;
// the API derives the key as the processor does and answers with the key
// only, never the identity.
//
//	GET /v1/learners/{learner}/suppressions?content=a,b,c
//
// Splits up to 1000 content ids (comma-separated, or repeated content
// parameters) into allowed and suppressed, order kept:
//
//	200 {"learner":"5f0c...","allowed":["b"],
//	     "suppressed":[{"content":"a","suppressed":true,"reason":"mastered",
//	       "explanation":"You answered 4 in a row.","since":1700000000000,
//	       "until":1702592000000,"evidence":{"attempts":4,"correct":4,...}}]}
//
//	POST /v1/learners/{learner}/suppressions   body {"contents":["a","b"]}
//
// The same for content ids that hold commas.
//
//	GET /v1/learners/{learner}/contents/{content}
//
// Explains one pair ({content} URL-escaped, slashes as %2F or literal):
//
//	200 {"learner":"5f0c...","content":"a","found":true,"suppressed":true,
//	     "decision":{...}}
//
// found is false when unpair stored no decision on the pair;
// suppressed is false for a decision whose suppression ended or whose until
// has passed.
//
// Content the learner never touched: when the client was built with a
// catalog (client.Options.Catalog), a content
// without a stored decision whose catalog skills are all mastered by the
// learner (mastery.Judge over the learner's skill states) is decided at
// read time, in the same round trip. Such a decision is marked
// "derived":true, in a suppressions entry and beside "decision" in a
// contents answer (found stays false: nothing is stored):
//
//	200 {"learner":"5f0c...","content":"frac-7","found":false,"suppressed":true,
//	     "decision":{"content":"frac-7","suppressed":true,"reason":"mastered",
//	       "explanation":"Mastered its skills: 97% sure you know fractions, after all
//	       4 of your answers correct; review due 28 Nov 2023.","since":...,
//	       "until":...,"evidence":{...,"skills":["fractions"]}},"derived":true}
//
// "engagement" (absent when nothing was recorded) is what the learner did
// with the content, as below.
//
//	GET /v1/learners/{learner}/engagement?content=a,b,c
//
// What the learner did with each content, in the order asked (one HMGET):
//
//	200 {"learner":"5f0c...","engagement":[{"found":true,"content":"a",
//	     "first_seen":1772355600000,"last_seen":1772355660000,
//	     "started_at":1772355600000,"time_spent_ms":30000,"launches":1,
//	     "attempts":0,"completions":0,"progress":0.05,"last_kind":"progress",
//	     "barely_touched":true},{"found":false,"content":"b",...}]}
//
// Times are unix ms (0 or absent: never); progress is absent when no
// statement reported it; barely_touched says the sweep reported the pair
// (event barely_touched) since its latest activity. docs/redis-keys.md
// documents the fields.
//
// # Errors
//
// Every error is JSON {"error":"..."} naming the bad parameter: 400 for a
// malformed learner, a missing or too long content list or a bad body; 401
// with WWW-Authenticate: Bearer when a token is configured and the request
// lacks it (Authorization: Bearer <token>; compared in constant time); 404
// for unknown /v1/ paths; 503 when Redis cannot be read (details in the
// log, never the learner's identity).
package httpapi
