package schema

import (
	"testing"
	"time"
)

// Tolerant ingestion keys an account without homePage as "account:|name";
// CanonicalIFI must reach the same key, so clients can query and forget
// such learners by identity.
func TestAccountWithoutHomePageKeysLikeCanonicalIFI(t *testing.T) {
	keyer := NewLearnerKeyer([]byte("s"))
	d := NewDecoder(Options{Mode: Tolerant, Keyer: keyer})
	raw := []byte(`{"actor":{"objectType":"Agent","account":{"name":"u-7"}},
		"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},
		"object":{"id":"https://lms.example.org/q1"},"result":{"success":true}}`)
	ev, err := d.Normalize(raw, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	want, err := keyer.KeyIFI("account:|u-7")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Learner != want {
		t.Fatalf("processor key %s, CanonicalIFI key %s", ev.Learner, want)
	}
}
