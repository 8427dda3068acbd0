package pwscheme

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
)

// Dovecot PBKDF2 parameters: HMAC-SHA1, 20-byte key, 16-character salt.
const (
	pbkdf2DefaultRounds = 5000
	pbkdf2MaxRounds     = 1<<32 - 1
	pbkdf2KeyLen        = sha1.Size
	pbkdf2GenSalt       = 16
)

// pbkdf2Verifier holds a parsed "$1$salt$rounds$hex" value. The salt text
// is used as the salt bytes as it is (it is not decoded).
type pbkdf2Verifier struct {
	salt   string
	rounds int
	key    []byte
}

// parsePBKDF2 reads Dovecot's "$1$salt$rounds$hex" PBKDF2 value.
func parsePBKDF2(raw []byte) (verifier, error) {
	const name = "PBKDF2"
	rest, ok := strings.CutPrefix(string(raw), "$1$")
	if !ok {
		return nil, malformed(name, "value must start with $1$")
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 3 {
		return nil, malformed(name, "value must be $1$salt$rounds$hash")
	}
	if fields[0] == "" {
		return nil, malformed(name, "empty salt")
	}
	rounds, err := parseDecimal(fields[1])
	if err != nil || rounds < 1 || rounds > pbkdf2MaxRounds {
		return nil, malformed(name, "rounds out of range 1..4294967295")
	}
	if len(fields[2]) != 2*pbkdf2KeyLen {
		return nil, malformed(name, "hash must be 40 hex digits")
	}
	key, err := hex.DecodeString(fields[2])
	if err != nil {
		return nil, malformed(name, "hash must be 40 hex digits")
	}
	return &pbkdf2Verifier{salt: fields[0], rounds: rounds, key: key}, nil
}

func (v *pbkdf2Verifier) derive(password string) ([]byte, error) {
	key, err := pbkdf2.Key(sha1.New, password, []byte(v.salt), v.rounds, pbkdf2KeyLen)
	if err != nil {
		return nil, malformed("PBKDF2", "key derivation failed")
	}
	return key, nil
}

func (v *pbkdf2Verifier) match(password, _ string) (bool, error) {
	key, err := v.derive(password)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, v.key) == 1, nil
}

func (v *pbkdf2Verifier) work() work { return work{rounds: v.rounds} }

// genPBKDF2 writes "$1$<16 salt chars>$<rounds>$<40 hex>".
func genPBKDF2(password string, p Params) (string, error) {
	rounds := p.Rounds
	if rounds == 0 {
		rounds = pbkdf2DefaultRounds
	}
	if rounds < 1 || rounds > pbkdf2MaxRounds {
		return "", malformed("PBKDF2", "rounds out of range 1..4294967295")
	}
	salt, err := randomSaltText(pbkdf2GenSalt)
	if err != nil {
		return "", err
	}
	v := &pbkdf2Verifier{salt: salt, rounds: rounds}
	key, err := v.derive(password)
	if err != nil {
		return "", err
	}
	return "$1$" + salt + "$" + strconv.Itoa(rounds) + "$" + hex.EncodeToString(key), nil
}
