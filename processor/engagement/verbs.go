package engagement

// verbIRIs is the table behind Pair.LastVerb: the verbs LMSs and content
// commonly send (ADL, cmi5, Tin Can, Activity Streams, ACROSSX). A verb is
// stored as its index here so that Pair stays fixed-size; a verb not listed
// is stored as 0 ("other") and Pair.LastKind still says what it meant.
// Append only: the index is part of the serialized Pair.
var verbIRIs = [...]string{
	"", // 0: a verb not in this table
	"http://adlnet.gov/expapi/verbs/completed",
	"http://adlnet.gov/expapi/verbs/passed",
	"http://adlnet.gov/expapi/verbs/failed",
	"http://adlnet.gov/expapi/verbs/answered",
	"http://adlnet.gov/expapi/verbs/attempted",
	"http://adlnet.gov/expapi/verbs/experienced",
	"http://adlnet.gov/expapi/verbs/launched",
	"http://adlnet.gov/expapi/verbs/initialized",
	"http://adlnet.gov/expapi/verbs/terminated",
	"http://adlnet.gov/expapi/verbs/progressed",
	"http://adlnet.gov/expapi/verbs/scored",
	"http://adlnet.gov/expapi/verbs/mastered",
	"http://adlnet.gov/expapi/verbs/voided",
	"http://adlnet.gov/expapi/verbs/suspended",
	"http://adlnet.gov/expapi/verbs/resumed",
	"http://adlnet.gov/expapi/verbs/responded",
	"http://adlnet.gov/expapi/verbs/interacted",
	"http://adlnet.gov/expapi/verbs/attended",
	"http://adlnet.gov/expapi/verbs/registered",
	"http://adlnet.gov/expapi/verbs/exited",
	"http://adlnet.gov/expapi/verbs/commented",
	"http://adlnet.gov/expapi/verbs/asked",
	"http://adlnet.gov/expapi/verbs/shared",
	"http://adlnet.gov/expapi/verbs/preferred",
	"http://adlnet.gov/expapi/verbs/imported",
	"https://w3id.org/xapi/adl/verbs/logged-in",
	"https://w3id.org/xapi/adl/verbs/logged-out",
	"https://w3id.org/xapi/adl/verbs/satisfied",
	"https://w3id.org/xapi/adl/verbs/waived",
	"https://w3id.org/xapi/adl/verbs/abandoned",
	"http://id.tincanapi.com/verb/rated",
	"http://id.tincanapi.com/verb/reviewed",
	"http://id.tincanapi.com/verb/voted-up",
	"http://id.tincanapi.com/verb/voted-down",
	"https://w3id.org/xapi/acrossx/verbs/liked",
	"https://w3id.org/xapi/acrossx/verbs/disliked",
	"http://activitystrea.ms/schema/1.0/like",
	"http://activitystrea.ms/like",
	"http://activitystrea.ms/schema/1.0/dislike",
	"http://activitystrea.ms/dislike",
	"http://activitystrea.ms/favorite",
	"http://id.tincanapi.com/verb/earned",
	"https://w3id.org/xapi/video/verbs/played",
	"https://w3id.org/xapi/video/verbs/paused",
	"https://w3id.org/xapi/video/verbs/seeked",
	"https://w3id.org/xapi/video/verbs/watched",
	"http://id.tincanapi.com/verb/viewed",
	"http://activitystrea.ms/schema/1.0/watch",
	"http://activitystrea.ms/schema/1.0/read",
}

var verbCodes = func() map[string]uint16 {
	m := make(map[string]uint16, len(verbIRIs))
	for i, v := range verbIRIs {
		if i > 0 {
			m[v] = uint16(i)
		}
	}
	return m
}()

// VerbCode returns the code Pair.LastVerb stores for a verb IRI, 0 when the
// verb is not in unpair's table.
func VerbCode(iri string) uint16 { return verbCodes[iri] }

// VerbIRI returns the IRI of a verb code, "" for 0 or an unknown code.
func VerbIRI(code uint16) string {
	if int(code) < len(verbIRIs) {
		return verbIRIs[code]
	}
	return ""
}
