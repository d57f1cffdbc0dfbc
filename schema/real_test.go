package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const realDir = "../../shared/xapi-real"

// realOutcomes pins what unpair does with every real emitter's statement
// (see ../shared/xapi-real/SUMMARY.md): whether the file is valid in strict
// mode, and per statement in tolerant mode either "kind:deviation+..." or
// "reject:reason". Change it only together with docs/xapi.md.
var realOutcomes = []struct {
	file   string
	strict bool
	each   []string
}{
	{"adapt-component-experienced.json", true, []string{"experience:derived_id"}},
	{"adl-roses-initialized.json", true, []string{"launch:"}},
	{"adl-roses-read.json", true, []string{"other:"}},
	{"adl-roses-resumed.json", true, []string{"launch:"}},
	{"adl-roses-suspended.json", true, []string{"experience:"}},
	{"adl-roses-terminated.json", true, []string{"experience:"}},
	{"cmi5-sample-abandoned.json", true, []string{"experience:"}},
	{"cmi5-sample-completed.json", true, []string{"completion:"}},
	{"cmi5-sample-experienced-allowed.json", true, []string{"experience:"}},
	{"cmi5-sample-failed.json", true, []string{"attempt:"}},
	{"cmi5-sample-initialized.json", true, []string{"launch:"}},
	{"cmi5-sample-launched.json", true, []string{"launch:"}},
	{"cmi5-sample-passed.json", true, []string{"completion:"}},
	{"cmi5-sample-progressed-allowed.json", true, []string{"progress:"}},
	{"cmi5-sample-satisfied.json", true, []string{"completion:"}},
	{"cmi5-sample-terminated.json", true, []string{"experience:"}},
	{"cmi5-vta-ispring-answered-choice.json", true, []string{"attempt:"}},
	{"cmi5-vta-ispring-answered-hotspot-as-choice.json", true, []string{"attempt:"}},
	{"cmi5-vta-ispring-answered-matching.json", true, []string{"attempt:"}},
	{"cmi5-vta-ispring-answered-sequencing.json", true, []string{"attempt:"}},
	{"cmi5-vta-ispring-attempted-allowed.json", true, []string{"launch:"}},
	{"cmi5-vta-ispring-completed.json", true, []string{"completion:"}},
	{"cmi5-vta-ispring-initialized.json", true, []string{"launch:"}},
	{"cmi5-vta-ispring-launched.json", true, []string{"launch:"}},
	{"cmi5-vta-ispring-passed.json", true, []string{"completion:"}},
	{"cmi5-vta-ispring-quiz-passed-allowed.json", true, []string{"completion:"}},
	{"cmi5-vta-ispring-satisfied-au.json", true, []string{"completion:"}},
	{"cmi5-vta-ispring-satisfied-course.json", true, []string{"completion:"}},
	{"cmi5-vta-ispring-terminated.json", true, []string{"experience:"}},
	{"h5p-2015-completed.json", false, []string{"completion:extensions_outside_definition+derived_id"}},
	{"h5p-coursepresentation-subcontent-attempted.json", false, []string{"launch:activity_id_not_iri+activity_missing_id+account_missing_homepage+derived_id"}},
	{"marsha-document-downloaded.json", false, []string{"experience:account_unknown_property"}},
	{"marsha-video-initialized-lti.json", false, []string{"launch:activity_id_not_iri"}},
	{"marsha-video-seeked.json", false, []string{"experience:account_unknown_property"}},
	{"moodle-assign-graded.json", true, []string{"attempt:scaled_symmetric+derived_id"}},
	{"moodle-assign-submitted.json", true, []string{"attempt:derived_id"}},
	{"moodle-badge-awarded.json", true, []string{"completion:derived_id"}},
	{"moodle-bigbluebutton-meeting-joined.json", true, []string{"other:derived_id"}},
	{"moodle-book-chapter-viewed.json", true, []string{"experience:derived_id"}},
	{"moodle-calendar-subscription-created.json", true, []string{"other:derived_id"}},
	{"moodle-certificate-issued.json", true, []string{"completion:derived_id"}},
	{"moodle-choice-answered.json", true, []string{"attempt:derived_id"}},
	{"moodle-course-completed.json", true, []string{"completion:derived_id"}},
	{"moodle-course-viewed.json", true, []string{"experience:derived_id"}},
	{"moodle-facetoface-attended.json", true, []string{"experience:derived_id"}},
	{"moodle-feedback-response-submitted-batch.json", true, []string{"attempt:derived_id", "attempt:derived_id"}},
	{"moodle-forum-discussion-created.json", true, []string{"other:derived_id"}},
	{"moodle-forum-post-replied.json", true, []string{"other:derived_id"}},
	{"moodle-group-member-added.json", true, []string{"other:derived_id"}},
	{"moodle-h5p-module-viewed.json", true, []string{"experience:derived_id"}},
	{"moodle-lesson-ended.json", true, []string{"completion:scaled_symmetric+derived_id"}},
	{"moodle-lesson-essay-assessed.json", true, []string{"attempt:derived_id"}},
	{"moodle-lesson-question-answered-matching.json", true, []string{"attempt:derived_id"}},
	{"moodle-lesson-question-answered-truefalse.json", true, []string{"attempt:derived_id"}},
	{"moodle-message-sent.json", true, []string{"other:derived_id"}},
	{"moodle-module-completion-completed.json", true, []string{"completion:derived_id"}},
	{"moodle-module-completion-uncompleted.json", true, []string{"other:derived_id"}},
	{"moodle-quiz-attempt-overdue.json", true, []string{"other:derived_id"}},
	{"moodle-quiz-attempt-started.json", true, []string{"launch:derived_id"}},
	{"moodle-quiz-attempt-submitted-essay-empty-response-batch.json", true, []string{"completion:scaled_symmetric+derived_id", "attempt:derived_id"}},
	{"moodle-quiz-attempt-submitted-gapselect-batch.json", true, []string{"completion:scaled_symmetric+derived_id", "attempt:derived_id"}},
	{"moodle-quiz-attempt-submitted-match-batch.json", true, []string{"completion:scaled_symmetric+derived_id", "attempt:derived_id"}},
	{"moodle-quiz-attempt-submitted-multichoice-batch.json", true, []string{"completion:scaled_symmetric+derived_id", "attempt:derived_id"}},
	{"moodle-quiz-attempt-submitted-no-questions.json", true, []string{"completion:scaled_symmetric+derived_id"}},
	{"moodle-quiz-attempt-submitted-numerical-batch.json", true, []string{"completion:scaled_symmetric+derived_id", "attempt:derived_id"}},
	{"moodle-quiz-question-manually-graded.json", true, []string{"attempt:scaled_symmetric+derived_id"}},
	{"moodle-scorm-sco-launched.json", true, []string{"launch:derived_id"}},
	{"moodle-scorm-scoreraw-submitted.json", true, []string{"completion:derived_id"}},
	{"moodle-search-results-viewed.json", true, []string{"other:derived_id"}},
	{"moodle-totara-program-assigned.json", true, []string{"other:derived_id"}},
	{"moodle-user-enrolled.json", true, []string{"other:derived_id"}},
	{"moodle-user-loggedin.json", true, []string{"other:derived_id"}},
	{"moodle-user-loggedinas.json", true, []string{"other:derived_id"}},
	{"moodle-wiki-comment-created.json", true, []string{"other:derived_id"}},
	{"openedx-block-completion-progressed.json", true, []string{"progress:"}},
	{"openedx-course-enrollment-registered.json", true, []string{"other:"}},
	{"openedx-course-enrollment-unregistered.json", true, []string{"other:"}},
	{"openedx-course-grade-earned.json", true, []string{"completion:"}},
	{"openedx-course-grade-failed.json", true, []string{"attempt:"}},
	{"openedx-course-grade-passed.json", true, []string{"completion:"}},
	{"openedx-forum-comment-reported.json", true, []string{"other:"}},
	{"openedx-forum-response-voted.json", true, []string{"other:"}},
	{"openedx-forum-thread-posted.json", true, []string{"other:"}},
	{"openedx-link-navigated.json", true, []string{"other:"}},
	{"openedx-problem-check-browser-attempted.json", true, []string{"launch:"}},
	{"openedx-problem-check-evaluated.json", true, []string{"attempt:"}},
	{"openedx-problem-check-minimal-evaluated.json", false, []string{"reject:no_content"}},
	{"openedx-problem-check-multi-question-batch.json", false, []string{"attempt:group_activity", "attempt:group_activity", "attempt:group_activity", "attempt:group_activity"}},
	{"openedx-problem-hint-asked.json", true, []string{"other:"}},
	{"openedx-problem-showanswer-asked.json", true, []string{"other:"}},
	{"openedx-problem-submitted-attempted.json", true, []string{"attempt:"}},
	{"openedx-problem-submitted-max-zero.json", false, []string{"attempt:score_min_equals_max"}},
	{"openedx-proctored-exam-terminated.json", false, []string{"experience:activity_id_not_iri"}},
	{"openedx-sequence-next-navigated.json", true, []string{"other:"}},
	{"openedx-subsection-grade-earned.json", true, []string{"completion:"}},
	{"openedx-timed-exam-initialized.json", false, []string{"launch:activity_id_not_iri"}},
	{"openedx-video-captions-interacted.json", true, []string{"other:"}},
	{"openedx-video-completed.json", true, []string{"completion:"}},
	{"openedx-video-initialized.json", true, []string{"launch:"}},
	{"openedx-video-paused.json", true, []string{"experience:"}},
	{"openedx-video-played.json", true, []string{"experience:"}},
	{"openedx-video-seeked.json", true, []string{"experience:"}},
	{"openedx-video-speed-interacted.json", true, []string{"other:"}},
	{"openedx-video-terminated.json", true, []string{"experience:"}},
	{"scorm-profile-learner-commented.json", true, []string{"other:derived_id"}},
	{"scorm-profile-objective-passed.json", true, []string{"completion:derived_id"}},
	{"scorm-profile-progressed.json", true, []string{"progress:derived_id"}},
	{"scorm-profile-terminated.json", true, []string{"experience:derived_id"}},
	{"videoprofile-template-initialized.json", true, []string{"launch:"}},
	{"videoprofile-template-paused.json", true, []string{"experience:derived_id"}},
	{"videoprofile-template-seeked.json", true, []string{"experience:derived_id"}},
}

func TestRealEmitters(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(realDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no statements under %s (err %v): the shared data is required", realDir, err)
	}
	want := map[string]int{}
	for i, o := range realOutcomes {
		want[o.file] = i
	}
	if len(files) != len(realOutcomes) {
		t.Errorf("%d files, %d expectations", len(files), len(realOutcomes))
	}
	tolerant := NewDecoder(Options{})
	strict := NewDecoder(Options{Mode: Strict})
	received := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range files {
		name := filepath.Base(f)
		i, ok := want[name]
		if !ok {
			t.Errorf("%s: no expected outcome", name)
			continue
		}
		o := realOutcomes[i]
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if vs := fatal(strict.Validate(raw)); (len(vs) == 0) != o.strict {
			t.Errorf("%s strict: violations %v, want valid=%v", name, vs, o.strict)
		}
		var got []string
		tolerant.NormalizeAll(raw, received, func(_ int, e Evidence, err error) {
			if err != nil {
				got = append(got, "reject:"+string(err.(*Error).Reason))
				return
			}
			var ds []string
			for _, d := range e.Deviations.List() {
				ds = append(ds, d.String())
			}
			got = append(got, e.Kind.String()+":"+strings.Join(ds, "+"))
			if len(e.Notes) < len(ds) {
				t.Errorf("%s: %d deviations but notes %q", name, len(ds), e.Notes)
			}
			if len(e.Learner) != 32 || e.Content == "" || e.Time == 0 {
				t.Errorf("%s: incomplete evidence %+v", name, e)
			}
		})
		if strings.Join(got, " | ") != strings.Join(o.each, " | ") {
			t.Errorf("%s tolerant:\n got  %q\n want %q", name, got, o.each)
		}
	}
}
