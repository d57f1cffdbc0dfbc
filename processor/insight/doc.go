// Package insight serves the read-only engagement views of unpair: JSON
// endpoints over the per-content figures of processor/engagement, and a
// small web page (HTML, CSS and JavaScript embedded in the binary; no CDN,
// no framework) that lists the contents learners barely touched and the
// contents most learners already master, draws their daily starts and
// completions as inline SVG, and looks up one learner's decisions.
//
// Routes (Register adds them to a mux; Handler returns a mux with them):
//
//	GET  /insight/                          the page
//	GET  /v1/contents/{content}/engagement  one content's figures (?days=1..30)
//	GET  /v1/contents/barely-touched        ranked by abandonment rate (?days, limit, min, contents=a,b)
//	GET  /v1/contents/mastered              ranked by mastered share (same parameters)
//	POST /v1/insight/learner                {"learner": IFI, actor JSON or learner key} -> decisions
//
// Content ids are IRIs: in the path they must be escaped as one segment
// (encodeURIComponent; "/" as %2F). The learner lookup is a POST so that an
// identity never appears in a URL or an access log; the server turns it
// into the learner key with the deployment secret (processor/client, the
// same derivation as the processor) and reads the decisions hash of that
// key (processor/store layout). Nothing about the learner is stored.
package insight
