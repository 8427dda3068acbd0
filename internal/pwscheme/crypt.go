package pwscheme

import (
	"errors"
	"strconv"
	"strings"

	"github.com/go-crypt/crypt"
	"github.com/go-crypt/crypt/algorithm"
	"github.com/go-crypt/crypt/algorithm/md5crypt"
)

// SHA-crypt limits and defaults (glibc, doveadm).
const (
	shaCryptDefaultRounds = 5000
	shaCryptMinRounds     = 1000
	shaCryptMaxRounds     = 999999999
	shaCryptMaxSalt       = 16
	shaCryptGenSalt       = 16
	md5CryptMaxSalt       = 8
)

// newCryptDecoder returns a go-crypt decoder with exactly the algorithms
// read through it: the standard MD5-crypt (SHA-crypt has its own
// allocation-free implementation in shacrypt.go). (The
// library's global decoder does not know $1$, and its default set may
// change.)
func newCryptDecoder() (*crypt.Decoder, error) {
	d := crypt.NewDecoder()
	if err := md5crypt.RegisterDecoderCommon(d); err != nil {
		return nil, err
	}
	return d, nil
}

// isCrypt64 reports whether s is non-empty and only uses the crypt(3)
// base64 alphabet (which is also bcrypt's, in another order).
func isCrypt64(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(saltAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

// parseCrypt dispatches a CRYPT value on its crypt(3) prefix.
func parseCrypt(raw []byte) (verifier, error) {
	const name = "CRYPT"
	s := string(raw)
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(name)(raw)
	case strings.HasPrefix(s, "$1$"):
		return parseMD5CryptNamed(name, s)
	case strings.HasPrefix(s, "$5$"):
		return parseSHACrypt(name, "5")(raw)
	case strings.HasPrefix(s, "$6$"):
		return parseSHACrypt(name, "6")(raw)
	case strings.HasPrefix(s, "$y$"):
		return parseYescrypt(name, s)
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2(name, "argon2id")(raw)
	case strings.HasPrefix(s, "$argon2i$"):
		return parseArgon2(name, "argon2i")(raw)
	case strings.HasPrefix(s, "$"), strings.HasPrefix(s, "_"):
		return nil, unsupported(name, "unsupported crypt(3) method")
	case len(s) == 13 && isCrypt64(s):
		return nil, unsupported(name, "DES crypt is not supported")
	}
	return nil, malformed(name, "not a crypt(3) string")
}

// cryptVerifier checks a password with a decoded go-crypt digest.
type cryptVerifier struct {
	scheme string
	digest algorithm.Digest
	w      work
}

func (v *cryptVerifier) match(password, _ string) (bool, error) {
	ok, err := v.digest.MatchAdvanced(password)
	if err != nil {
		return false, malformed(v.scheme, "cannot check the crypt string")
	}
	return ok, nil
}

func (v *cryptVerifier) work() work { return v.w }

// decodeCrypt decodes s with the explicit go-crypt decoder.
func decodeCrypt(scheme, s string) (algorithm.Digest, error) {
	dec, err := newCryptDecoder()
	if err != nil {
		return nil, unsupported(scheme, "crypt decoder unavailable")
	}
	digest, err := dec.Decode(s)
	if err != nil {
		return nil, malformed(scheme, "cannot decode the crypt string")
	}
	return digest, nil
}

// parseMD5Crypt reads "$1$salt$hash22".
func parseMD5Crypt(raw []byte) (verifier, error) {
	return parseMD5CryptNamed("MD5-CRYPT", string(raw))
}

func parseMD5CryptNamed(scheme, s string) (verifier, error) {
	rest, ok := strings.CutPrefix(s, "$1$")
	if !ok {
		return nil, malformed(scheme, "MD5-crypt value must start with $1$")
	}
	salt, hash, ok := strings.Cut(rest, "$")
	if !ok || strings.Contains(hash, "$") {
		return nil, malformed(scheme, "MD5-crypt value must be $1$salt$hash")
	}
	if len(salt) > md5CryptMaxSalt {
		return nil, malformed(scheme, "MD5-crypt salt longer than 8 characters")
	}
	if len(hash) != 22 || !isCrypt64(hash) {
		return nil, malformed(scheme, "MD5-crypt hash must be 22 crypt-base64 characters")
	}
	digest, err := decodeCrypt(scheme, s)
	if err != nil {
		return nil, err
	}
	return &cryptVerifier{scheme: scheme, digest: digest}, nil
}

// parseSHACrypt returns the parser for "$id$[rounds=N$]salt$hash".
func parseSHACrypt(scheme, id string) func(raw []byte) (verifier, error) {
	hashLen := 43
	if id == "6" {
		hashLen = 86
	}
	return func(raw []byte) (verifier, error) {
		s := string(raw)
		rest, ok := strings.CutPrefix(s, "$"+id+"$")
		if !ok {
			return nil, malformed(scheme, "SHA-crypt value must start with $"+id+"$")
		}
		rounds := shaCryptDefaultRounds
		if r, ok := strings.CutPrefix(rest, "rounds="); ok {
			num, after, found := strings.Cut(r, "$")
			if !found {
				return nil, malformed(scheme, "SHA-crypt rounds= field is not terminated")
			}
			n, err := parseDecimal(num)
			if err != nil || n < shaCryptMinRounds || n > shaCryptMaxRounds {
				return nil, malformed(scheme, "SHA-crypt rounds out of range 1000..999999999")
			}
			rounds, rest = n, after
		}
		salt, hash, ok := strings.Cut(rest, "$")
		if !ok || strings.Contains(hash, "$") {
			return nil, malformed(scheme, "SHA-crypt value must be $"+id+"$[rounds=N$]salt$hash")
		}
		if len(salt) > shaCryptMaxSalt {
			return nil, malformed(scheme, "SHA-crypt salt longer than 16 characters")
		}
		if len(hash) != hashLen || !isCrypt64(hash) {
			return nil, malformed(scheme, "SHA-crypt hash must be "+strconv.Itoa(hashLen)+" crypt-base64 characters")
		}
		return &shaCryptVerifier{is512: id == "6", salt: salt, hash: hash, rounds: rounds}, nil
	}
}

// parseDecimal parses a plain unsigned decimal number (digits only, no
// sign, at most 10 digits).
func parseDecimal(s string) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, errors.New("bad number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("bad number")
		}
	}
	return strconv.Atoi(s)
}

// genSHACrypt returns the SHA-crypt generator; rounds are written only when
// they differ from 5000, as doveadm and glibc do.
func genSHACrypt(scheme string) func(password string, p Params) (string, error) {
	is512 := scheme != "SHA256-CRYPT"
	return func(password string, p Params) (string, error) {
		rounds := p.Rounds
		if rounds == 0 {
			rounds = shaCryptDefaultRounds
		}
		if rounds < shaCryptMinRounds || rounds > shaCryptMaxRounds {
			return "", malformed(scheme, "rounds out of range 1000..999999999")
		}
		salt, err := randomSaltText(shaCryptGenSalt)
		if err != nil {
			return "", unsupported(scheme, "no randomness for the salt")
		}
		return shaCryptString(is512, password, salt, rounds), nil
	}
}
