package pwscheme

import (
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// bcrypt defaults: doveadm uses cost 5; popadm writes cost 10.
const (
	bcryptDefaultCost = 10
	bcryptMaxPassword = 72
)

// parseBcrypt returns the parser for "$2a$NN$" + 53 characters ($2b$ and
// $2y$ are the same algorithm and accepted alike).
func parseBcrypt(scheme string) func(raw []byte) (verifier, error) {
	return func(raw []byte) (verifier, error) {
		s := string(raw)
		if len(s) != 60 {
			return nil, malformed(scheme, "bcrypt string must be 60 characters")
		}
		if !strings.HasPrefix(s, "$2a$") && !strings.HasPrefix(s, "$2b$") && !strings.HasPrefix(s, "$2y$") {
			return nil, malformed(scheme, "bcrypt string must start with $2a$, $2b$ or $2y$")
		}
		if s[6] != '$' {
			return nil, malformed(scheme, "bcrypt cost must be two digits")
		}
		cost, err := parseDecimal(s[4:6])
		if err != nil || cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
			return nil, malformed(scheme, "bcrypt cost out of range 4..31")
		}
		if !isCrypt64(s[7:]) {
			return nil, malformed(scheme, "bcrypt salt and hash must be bcrypt-base64")
		}
		if c, err := bcrypt.Cost(raw); err != nil || c != cost {
			return nil, malformed(scheme, "cannot decode the bcrypt string")
		}
		return &bcryptVerifier{scheme: scheme, hash: raw, cost: cost}, nil
	}
}

// bcryptVerifier checks a password with x/crypto/bcrypt. Like every C
// bcrypt, only the first 72 bytes of the password count.
type bcryptVerifier struct {
	scheme string
	hash   []byte
	cost   int
}

func (v *bcryptVerifier) match(password, _ string) (bool, error) {
	err := bcrypt.CompareHashAndPassword(v.hash, []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, malformed(v.scheme, "cannot check the bcrypt string")
}

func (v *bcryptVerifier) work() work { return work{cost: v.cost} }

// genBcrypt writes x/crypto's "$2a$" bcrypt string (Dovecot reads it).
// Passwords longer than 72 bytes are refused rather than silently
// truncated.
func genBcrypt(password string, p Params) (string, error) {
	cost := p.Rounds
	if cost == 0 {
		cost = bcryptDefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", malformed("BLF-CRYPT", "cost out of range 4..31")
	}
	if len(password) > bcryptMaxPassword {
		return "", malformed("BLF-CRYPT", "password longer than 72 bytes")
	}
	out, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", malformed("BLF-CRYPT", "bcrypt hashing failed")
	}
	return string(out), nil
}
