package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/unpair/unpair/schema"
)

// Learner names a learner in one of three forms, told apart by their first
// characters:
//
//   - an xAPI actor JSON object, starting with '{':
//     {"mbox":"mailto:alice@example.com"}, {"account":{"homePage":...,"name":...}}, ...
//   - an IFI string, holding ':' (see schema.CanonicalIFI):
//     mailto:alice@example.com, sha1:<40 hex>, account:<homePage>|<name>, openid:<uri>
//   - a learner key as stored: exactly 32 lower-case hex, as
//     schema.LearnerKeyer makes it (anything else is refused, so a raw
//     user name or id can never be taken for a key).
//
// Identities are turned into keys exactly as the processor does
// (schema.Canonical* then schema.LearnerKeyer), so both agree on the key.
type Learner string

// keyOf derives the learner key of l with keyer.
func keyOf(keyer *schema.LearnerKeyer, l Learner) (string, error) {
	s := strings.TrimSpace(string(l))
	switch {
	case s == "":
		return "", errors.New("learner: required")
	case s[0] == '{':
		ifi, err := ActorIFI([]byte(s))
		if err != nil {
			return "", err
		}
		return keyer.Key(ifi), nil
	case strings.IndexByte(s, ':') >= 0:
		return keyer.KeyIFI(s)
	}
	if !isLearnerKey(s) {
		// The value itself is not echoed: it may be a raw identity.
		return "", fmt.Errorf("learner: neither an actor JSON, an IFI (mailto:, sha1:, account:, openid:) nor a learner key (%d bytes; a learner key is exactly %d lower-case hex characters, as schema.LearnerKeyer makes it)", len(s), learnerKeyLen)
	}
	return s, nil
}

// learnerKeyLen is the length of schema.LearnerKeyer's keys.
const learnerKeyLen = 32

// isLearnerKey reports whether s is what schema.LearnerKeyer produces:
// exactly 32 lower-case hex characters.
func isLearnerKey(s string) bool {
	if len(s) != learnerKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ActorIFI returns the canonical IFI of an xAPI Agent or identified Group
// given as JSON: exactly one of mbox, mbox_sha1sum, openid or account
// (with homePage and name).
func ActorIFI(actor []byte) (string, error) {
	var a struct {
		Mbox    *string `json:"mbox"`
		Sha1    *string `json:"mbox_sha1sum"`
		OpenID  *string `json:"openid"`
		Account *struct {
			HomePage *string `json:"homePage"`
			Name     *string `json:"name"`
		} `json:"account"`
	}
	if err := json.Unmarshal(actor, &a); err != nil {
		return "", fmt.Errorf("learner: actor is not a JSON object: %w", err)
	}
	var out []string
	if a.Mbox != nil {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(*a.Mbox)), "mailto:") || !strings.Contains(*a.Mbox, "@") {
			return "", errors.New("learner: actor.mbox must be mailto:<address>")
		}
		out = append(out, schema.CanonicalMbox(*a.Mbox))
	}
	if a.Sha1 != nil {
		c, err := schema.CanonicalIFI("sha1:" + strings.TrimSpace(*a.Sha1))
		if err != nil {
			return "", errors.New("learner: actor.mbox_sha1sum must be 40 hex characters")
		}
		out = append(out, c)
	}
	if a.OpenID != nil {
		if strings.TrimSpace(*a.OpenID) == "" {
			return "", errors.New("learner: actor.openid must be a URI")
		}
		out = append(out, schema.CanonicalOpenID(*a.OpenID))
	}
	if a.Account != nil {
		if a.Account.Name == nil || *a.Account.Name == "" {
			return "", errors.New("learner: actor.account needs a name")
		}
		// Without a homePage, as tolerant ingestion keys it (H5P sends such
		// accounts).
		home := ""
		if a.Account.HomePage != nil {
			home = *a.Account.HomePage
		}
		out = append(out, schema.CanonicalAccount(home, *a.Account.Name))
	}
	if len(out) != 1 {
		return "", fmt.Errorf("learner: actor must have exactly one of mbox, mbox_sha1sum, openid, account; got %d", len(out))
	}
	return out[0], nil
}
