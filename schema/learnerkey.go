package schema

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
)

// LearnerKeyer turns a canonical inverse functional identifier (IFI) into
// the learner key stored everywhere unpair writes: HMAC-SHA256 keyed with a
// deployment secret, truncated to 128 bits, lower-case hex. The processor and
// every client derive keys with the same secret, so neither ever stores or
// sends the raw identity. The zero value uses an empty secret, which is fine
// for tests and demos and wrong for production.
//
// Key is safe for concurrent use and allocates only the key it returns: it
// reuses HMAC states (with the padded secret precomputed) from a pool.
type LearnerKeyer struct {
	secret []byte
	macs   sync.Pool // of *keyMAC for secret
}

// NewLearnerKeyer returns a keyer for the given deployment secret.
func NewLearnerKeyer(secret []byte) *LearnerKeyer {
	return &LearnerKeyer{secret: append([]byte(nil), secret...)}
}

// Key returns the learner key of a canonical IFI (see CanonicalIFI).
func (k *LearnerKeyer) Key(canonicalIFI string) string {
	if k == nil {
		return newKeyMAC(nil).keyString(canonicalIFI)
	}
	m, _ := k.macs.Get().(*keyMAC)
	if m == nil {
		m = newKeyMAC(k.secret)
	}
	key := m.keyString(canonicalIFI)
	k.macs.Put(m)
	return key
}

// KeyIFI canonicalizes a user-typed IFI (see CanonicalIFI) and returns its key.
func (k *LearnerKeyer) KeyIFI(ifi string) (string, error) {
	c, err := CanonicalIFI(ifi)
	if err != nil {
		return "", err
	}
	return k.Key(c), nil
}

// CanonicalMbox returns the canonical IFI of an mbox ("mailto:a@b.c").
// An mbox canonicalizes to its mbox_sha1sum, so a learner sent once with
// mbox and once with mbox_sha1sum gets one key.
func CanonicalMbox(mbox string) string {
	m := strings.ToLower(strings.TrimSpace(mbox))
	if !strings.HasPrefix(m, "mailto:") {
		m = "mailto:" + m
	}
	sum := sha1.Sum([]byte(m))
	return "sha1:" + hex.EncodeToString(sum[:])
}

// CanonicalSha1 returns the canonical IFI of an mbox_sha1sum.
func CanonicalSha1(sum string) string { return "sha1:" + strings.ToLower(strings.TrimSpace(sum)) }

// CanonicalAccount returns the canonical IFI of an account. The homePage
// loses a trailing slash; the name is kept exactly (it is case-sensitive).
func CanonicalAccount(homePage, name string) string {
	return "account:" + strings.TrimRight(strings.TrimSpace(homePage), "/") + "|" + name
}

// CanonicalOpenID returns the canonical IFI of an openid URI.
func CanonicalOpenID(uri string) string { return "openid:" + strings.TrimSpace(uri) }

// CanonicalIFI parses the textual IFI forms people type on a command line or
// in a query and returns the canonical form:
//
//	mailto:alice@example.com            (mbox)
//	sha1:<40 hex> or mbox_sha1sum:<40 hex>
//	account:<homePage>|<name>
//	openid:<uri>
func CanonicalIFI(ifi string) (string, error) {
	s := strings.TrimSpace(ifi)
	switch {
	case strings.HasPrefix(strings.ToLower(s), "mailto:"):
		if !strings.Contains(s, "@") {
			return "", errors.New("learner: mailto IFI needs an address with @")
		}
		return CanonicalMbox(s), nil
	case strings.HasPrefix(s, "sha1:"), strings.HasPrefix(s, "mbox_sha1sum:"):
		h := s[strings.IndexByte(s, ':')+1:]
		if len(h) != 40 || !isHex(h) {
			return "", errors.New("learner: mbox_sha1sum must be 40 hex characters")
		}
		return CanonicalSha1(h), nil
	case strings.HasPrefix(s, "account:"):
		rest := s[len("account:"):]
		// The first '|' ends the homePage (an IRL cannot hold a raw '|'; a
		// name can). The homePage may be empty: tolerant ingestion keys an
		// account without one as "account:|<name>".
		i := strings.IndexByte(rest, '|')
		if i < 0 || i == len(rest)-1 {
			return "", errors.New("learner: account IFI must be account:<homePage>|<name>")
		}
		return CanonicalAccount(rest[:i], rest[i+1:]), nil
	case strings.HasPrefix(s, "openid:"):
		if len(s) == len("openid:") {
			return "", errors.New("learner: openid IFI needs a URI")
		}
		return CanonicalOpenID(s[len("openid:"):]), nil
	}
	return "", errors.New("learner: unknown IFI form; use mailto:, sha1:, account:<homePage>|<name> or openid:")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
