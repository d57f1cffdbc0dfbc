package schema

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"unsafe"
)

// This file holds the allocation-free path to a learner key: the canonical
// IFI is built into a reusable byte buffer (the same bytes CanonicalMbox,
// CanonicalSha1, CanonicalOpenID and CanonicalAccount return), and the
// HMAC runs on a reused hash.Hash whose Reset restores the precomputed
// inner state (crypto/hmac keeps the padded-key states marshaled after the
// first use), so a key costs two SHA-256 blocks and one string: the key.

// keyMAC is a reusable HMAC-SHA256 state for one secret.
type keyMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
	out [32]byte // hex of the first 16 bytes of the MAC
	buf []byte   // canonical IFI being built
	sha [20]byte // SHA-1 of an mbox
	hx  [40]byte // hex of sha
}

func newKeyMAC(secret []byte) *keyMAC {
	return &keyMAC{h: hmac.New(sha256.New, secret)}
}

// key returns the learner key of the canonical IFI c; c is not retained.
func (m *keyMAC) key(c []byte) string {
	m.h.Reset()
	m.h.Write(c)
	s := m.h.Sum(m.sum[:0])
	hex.Encode(m.out[:], s[:16])
	return string(m.out[:])
}

// keyString is key for a string, without copying it.
func (m *keyMAC) keyString(c string) string {
	return m.key(unsafe.Slice(unsafe.StringData(c), len(c)))
}

// ifiKey returns the learner key of an actor's IFI as sent. Identifiers
// that are pure ASCII (the norm) are canonicalized into m.buf; any other
// byte falls back to the string functions, whose Unicode case mapping and
// white space trimming define the canonical form.
func (m *keyMAC) ifiKey(id ifi) string {
	b := m.buf[:0]
	switch id.kind {
	case ifiMbox:
		if !isASCII(id.a) {
			return m.keyString(CanonicalMbox(string(id.a)))
		}
		a := trimASCIISpace(id.a)
		if !hasPrefixFold(a, "mailto:") {
			b = append(b, "mailto:"...)
		}
		b = appendLowerASCII(b, a)
		m.sha = sha1.Sum(b)
		hex.Encode(m.hx[:], m.sha[:])
		b = append(b[:0], "sha1:"...)
		b = append(b, m.hx[:]...)
	case ifiSha1:
		if !isASCII(id.a) {
			return m.keyString(CanonicalSha1(string(id.a)))
		}
		b = append(b, "sha1:"...)
		b = appendLowerASCII(b, trimASCIISpace(id.a))
	case ifiOpenID:
		if !isASCII(id.a) {
			return m.keyString(CanonicalOpenID(string(id.a)))
		}
		b = append(b, "openid:"...)
		b = append(b, trimASCIISpace(id.a)...)
	case ifiAccount:
		if !isASCII(id.a) {
			return m.keyString(CanonicalAccount(string(id.a), string(id.b)))
		}
		home := trimASCIISpace(id.a)
		for len(home) > 0 && home[len(home)-1] == '/' {
			home = home[:len(home)-1]
		}
		b = append(b, "account:"...)
		b = append(b, home...)
		b = append(b, '|')
		b = append(b, id.b...)
	}
	m.buf = b
	return m.key(b)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// isASCIISpace is the set strings.TrimSpace trims among ASCII bytes.
func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func trimASCIISpace(b []byte) []byte {
	for len(b) > 0 && isASCIISpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isASCIISpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func appendLowerASCII(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && eqFoldASCII(b[:len(prefix)], prefix)
}
