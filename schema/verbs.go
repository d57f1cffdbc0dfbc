package schema

// VerbMap maps a verb IRI, compared as an exact string (Data 3.1), to the
// Kind of evidence it produces. Verbs not in the map give KindOther:
// engagement without a judgement.
type VerbMap map[string]Kind

// Verb IRIs with a fixed meaning in the normalizer.
const (
	VerbVoided     = "http://adlnet.gov/expapi/verbs/voided"
	VerbAttempted  = "http://adlnet.gov/expapi/verbs/attempted"
	VerbProgressed = "http://adlnet.gov/expapi/verbs/progressed"
	VerbPassed     = "http://adlnet.gov/expapi/verbs/passed"
	VerbFailed     = "http://adlnet.gov/expapi/verbs/failed"
	VerbCompleted  = "http://adlnet.gov/expapi/verbs/completed"
	VerbRated      = "http://id.tincanapi.com/verb/rated"

	// ExtCmi5Progress is the cmi5 result extension holding progress 0..100.
	ExtCmi5Progress = "https://w3id.org/xapi/cmi5/result/extensions/progress"
	// ExtSkills is an activity-definition extension holding an array of
	// skill ids (strings) the activity exercises.
	ExtSkills = "https://unpair.dev/xapi/extensions/skills"
)

// DefaultVerbs returns a fresh copy of the default mapping: the ADL verbs,
// cmi5, the SCORM profile, Activity Streams (both the /schema/1.0/ and the
// short spellings), TLA, EDLM, acrossx, the video profile, tincanapi and
// the Open edX and dod-isd verbs seen in real emitters' output.
func DefaultVerbs() VerbMap {
	m := make(VerbMap, len(defaultVerbs))
	for k, v := range defaultVerbs {
		m[k] = v
	}
	return m
}

var defaultVerbs = VerbMap{
	// ADL (adl.jsonld, scorm.jsonld)
	"http://adlnet.gov/expapi/verbs/completed":   KindCompletion,
	"http://adlnet.gov/expapi/verbs/passed":      KindCompletion,
	"http://adlnet.gov/expapi/verbs/mastered":    KindCompletion,
	"http://adlnet.gov/expapi/verbs/failed":      KindAttempt,
	"http://adlnet.gov/expapi/verbs/answered":    KindAttempt,
	"http://adlnet.gov/expapi/verbs/attempted":   KindAttempt, // KindLaunch when it carries no result
	"http://adlnet.gov/expapi/verbs/scored":      KindAttempt,
	"http://adlnet.gov/expapi/verbs/responded":   KindAttempt,
	"http://adlnet.gov/expapi/verbs/progressed":  KindProgress,
	"http://adlnet.gov/expapi/verbs/experienced": KindExperience,
	"http://adlnet.gov/expapi/verbs/terminated":  KindExperience,
	"http://adlnet.gov/expapi/verbs/suspended":   KindExperience,
	"http://adlnet.gov/expapi/verbs/exited":      KindExperience,
	"http://adlnet.gov/expapi/verbs/attended":    KindExperience,
	"http://adlnet.gov/expapi/verbs/launched":    KindLaunch,
	"http://adlnet.gov/expapi/verbs/initialized": KindLaunch,
	"http://adlnet.gov/expapi/verbs/resumed":     KindLaunch,
	"http://adlnet.gov/expapi/verbs/registered":  KindOther,
	"http://adlnet.gov/expapi/verbs/interacted":  KindOther,
	"http://adlnet.gov/expapi/verbs/commented":   KindOther,
	"http://adlnet.gov/expapi/verbs/asked":       KindOther,
	"http://adlnet.gov/expapi/verbs/shared":      KindOther,
	"http://adlnet.gov/expapi/verbs/preferred":   KindOther,
	"http://adlnet.gov/expapi/verbs/imported":    KindOther,
	"http://adlnet.gov/expapi/verbs/voided":      KindVoid,
	"https://w3id.org/xapi/adl/verbs/logged-in":  KindOther,
	"https://w3id.org/xapi/adl/verbs/logged-out": KindOther,
	// cmi5
	"https://w3id.org/xapi/adl/verbs/satisfied": KindCompletion,
	"https://w3id.org/xapi/adl/verbs/waived":    KindCompletion,
	"https://w3id.org/xapi/adl/verbs/abandoned": KindExperience,
	// rating and feedback (tincanapi, acrossx, Activity Streams)
	"http://id.tincanapi.com/verb/rated":           KindRating,
	"http://id.tincanapi.com/verb/reviewed":        KindOther,
	"http://id.tincanapi.com/verb/voted-up":        KindRating,
	"http://id.tincanapi.com/verb/voted-down":      KindDislike,
	"https://w3id.org/xapi/acrossx/verbs/liked":    KindRating,
	"https://w3id.org/xapi/acrossx/verbs/disliked": KindDislike,
	"http://activitystrea.ms/schema/1.0/like":      KindRating,
	"http://activitystrea.ms/like":                 KindRating,
	"http://activitystrea.ms/schema/1.0/dislike":   KindDislike,
	"http://activitystrea.ms/dislike":              KindDislike,
	"http://activitystrea.ms/favorite":             KindRating,
	"http://activitystrea.ms/schema/1.0/favorite":  KindRating,
	// tincanapi
	"http://id.tincanapi.com/verb/viewed":           KindExperience,
	"http://id.tincanapi.com/verb/earned":           KindCompletion,
	"http://id.tincanapi.com/verb/downloaded":       KindExperience,
	"http://id.tincanapi.com/verb/replied":          KindOther,
	"http://id.tincanapi.com/verb/unregistered":     KindOther,
	"http://id.tincanapi.com/verb/not-interested":   KindDislike,
	"http://id.tincanapi.com/verb/skipped":          KindOther,
	"http://activitystrea.ms/schema/1.0/start":      KindLaunch,
	"http://activitystrea.ms/start":                 KindLaunch,
	"http://activitystrea.ms/schema/1.0/submit":     KindAttempt,
	"http://activitystrea.ms/submit":                KindAttempt,
	"http://activitystrea.ms/schema/1.0/join":       KindOther,
	"http://activitystrea.ms/join":                  KindOther,
	"http://activitystrea.ms/schema/1.0/create":     KindOther,
	"http://activitystrea.ms/create":                KindOther,
	"http://activitystrea.ms/schema/1.0/assign":     KindOther,
	"http://activitystrea.ms/assign":                KindOther,
	"http://activitystrea.ms/schema/1.0/send":       KindOther,
	"http://activitystrea.ms/send":                  KindOther,
	"http://activitystrea.ms/schema/1.0/read":       KindExperience,
	"http://activitystrea.ms/read":                  KindExperience,
	"http://activitystrea.ms/schema/1.0/watch":      KindExperience,
	"http://activitystrea.ms/watch":                 KindExperience,
	"http://activitystrea.ms/schema/1.0/complete":   KindCompletion,
	"http://activitystrea.ms/complete":              KindCompletion,
	"https://w3id.org/xapi/acrossx/verbs/evaluated": KindAttempt,
	"https://w3id.org/xapi/acrossx/verbs/posted":    KindOther,
	"https://w3id.org/xapi/acrossx/verbs/reported":  KindOther,
	"https://w3id.org/xapi/acrossx/verbs/searched":  KindOther,
	"https://w3id.org/xapi/acrossx/verbs/watched":   KindExperience,
	"https://w3id.org/xapi/acrossx/verbs/read":      KindExperience,
	// TLA, dod-isd, EDLM LMS profile (Moodle)
	"https://w3id.org/xapi/tla/verbs/achieved":                       KindCompletion,
	"https://w3id.org/xapi/tla/verbs/scored":                         KindAttempt,
	"https://w3id.org/xapi/dod-isd/verbs/assessed":                   KindAttempt,
	"https://w3id.org/xapi/dod-isd/verbs/navigated":                  KindOther,
	"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/login":       KindOther,
	"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/enrolled":    KindOther,
	"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/exceeded":    KindOther,
	"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/uncompleted": KindOther,
	"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/completed":   KindCompletion,
	// video profile
	"https://w3id.org/xapi/video/verbs/played":     KindExperience,
	"https://w3id.org/xapi/video/verbs/paused":     KindExperience,
	"https://w3id.org/xapi/video/verbs/seeked":     KindExperience,
	"https://w3id.org/xapi/video/verbs/interacted": KindOther,
	"https://w3id.org/xapi/openedx/verb/voted":     KindOther,
}
