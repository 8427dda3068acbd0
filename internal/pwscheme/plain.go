package pwscheme

import (
	"crypto/sha256"
	"crypto/subtle"
	"strconv"
)

// parsePlain accepts any non-empty cleartext.
func parsePlain(raw []byte) (verifier, error) {
	if len(raw) == 0 {
		return nil, malformed("PLAIN", "empty password")
	}
	return &plainVerifier{secret: raw, trunc: -1}, nil
}

// genPlain stores the password bytes as they are.
func genPlain(password string, _ Params) (string, error) {
	return password, nil
}

// parsePlainTrunc reads Dovecot's "<length>-<password>" PLAIN-TRUNC value.
func parsePlainTrunc(raw []byte) (verifier, error) {
	i := 0
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		i++
	}
	if i == 0 || i == len(raw) || raw[i] != '-' {
		return nil, malformed("PLAIN-TRUNC", "missing <length>- prefix")
	}
	n, err := strconv.Atoi(string(raw[:i]))
	if err != nil || n < 1 {
		return nil, malformed("PLAIN-TRUNC", "invalid truncation length")
	}
	secret := raw[i+1:]
	if len(secret) == 0 {
		return nil, malformed("PLAIN-TRUNC", "empty password")
	}
	return &plainVerifier{secret: secret, trunc: n}, nil
}

// plainVerifier compares cleartext. For PLAIN-TRUNC (trunc >= 0) a stored
// password exactly trunc bytes long may be a truncated one, and then only
// that prefix of the given password is compared, as Dovecot does.
type plainVerifier struct {
	secret []byte
	trunc  int
}

func (v *plainVerifier) match(password, _ string) (bool, error) {
	given := []byte(password)
	if v.trunc >= 0 && len(v.secret) == v.trunc && len(given) >= v.trunc {
		given = given[:v.trunc]
	}
	// Comparing digests keeps the comparison constant-time in the length
	// as well.
	a, b := sha256.Sum256(given), sha256.Sum256(v.secret)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1, nil
}

func (v *plainVerifier) work() work { return work{} }

// full reports whether the stored secret is certainly the whole password.
func (v *plainVerifier) full() bool {
	return v.trunc < 0 || len(v.secret) < v.trunc
}

// PlainSecret returns the cleartext password held by a PLAIN-family value
// (PLAIN, CLEAR, CLEARTEXT, PLAIN.B64, PLAIN.HEX, and PLAIN-TRUNC when the
// stored password is shorter than its truncation length). ok is false for
// every other scheme and for malformed values.
func PlainSecret(stored string) (secret string, ok bool) {
	h, err := Parse(stored)
	if err != nil || (h.Scheme != "PLAIN" && h.Scheme != "PLAIN-TRUNC") {
		return "", false
	}
	v, err := parseVerifier(h)
	if err != nil {
		return "", false
	}
	pv, isPlain := v.(*plainVerifier)
	if !isPlain || !pv.full() {
		return "", false
	}
	return string(pv.secret), true
}
