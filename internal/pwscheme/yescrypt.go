package pwscheme

import (
	"crypto/subtle"
	"strings"

	"github.com/go-crypt/x/yescrypt"
)

// parseYescrypt reads a libxcrypt "$y$jXX$salt$hash" string, the default
// of current Linux distributions' crypt(3). Only the parameter subset the
// yescrypt package computes (N 2^10..2^18, r 1..32, p 1) is accepted.
func parseYescrypt(scheme, s string) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "y" {
		return nil, malformed(scheme, "yescrypt value must be $y$params$salt$hash")
	}
	params, salt, hash := parts[2], parts[3], parts[4]
	_, nLog2, r, err := yescrypt.DecodeSetting([]byte(params))
	if err != nil || nLog2 < 10 || nLog2 > 18 || r < 1 || r > 32 {
		return nil, unsupported(scheme, "unsupported yescrypt parameters")
	}
	if salt != "" && (!isCrypt64(salt) || yescrypt.Decode64([]byte(salt)) == nil) {
		return nil, malformed(scheme, "yescrypt salt is not crypt-base64")
	}
	if len(hash) != 43 || !isCrypt64(hash) {
		return nil, malformed(scheme, "yescrypt hash must be 43 crypt-base64 characters")
	}
	mem := uint32(128 * r * (1 << nLog2) / 1024)
	return &yescryptVerifier{scheme: scheme, stored: s, w: work{memKiB: mem, time: 1}}, nil
}

// yescryptVerifier recomputes the whole crypt string and compares it.
type yescryptVerifier struct {
	scheme string
	stored string
	w      work
}

func (v *yescryptVerifier) match(password, _ string) (bool, error) {
	out, err := yescrypt.Hash([]byte(password), []byte(v.stored))
	if err != nil {
		return false, malformed(v.scheme, "cannot check the yescrypt string")
	}
	return subtle.ConstantTimeCompare(out, []byte(v.stored)) == 1, nil
}

func (v *yescryptVerifier) work() work { return v.w }
