package pwscheme

import (
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 defaults (doveadm's ARGON2ID parameters) and limits (libsodium's,
// plus a 4 GiB memory ceiling so that one stored value cannot exhaust the
// host).
const (
	argonDefaultMemory  = 65536
	argonDefaultTime    = 3
	argonDefaultThreads = 1
	argonMaxMemory      = 4 << 20 // KiB
	argonMinSalt        = 8
	argonMinKey         = 16
	argonGenSalt        = 16
	argonGenKey         = 32
)

// argon2Verifier holds a parsed PHC string.
type argon2Verifier struct {
	variant      string // "argon2i" or "argon2id"
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2 returns the parser for
// "$argon2id$v=19$m=65536,t=3,p=1$salt$hash" (raw standard base64).
func parseArgon2(scheme, variant string) func(raw []byte) (verifier, error) {
	return func(raw []byte) (verifier, error) {
		parts := strings.Split(string(raw), "$")
		if len(parts) != 6 || parts[0] != "" {
			return nil, malformed(scheme, "Argon2 value must be $"+variant+"$v=19$m=M,t=T,p=P$salt$hash")
		}
		if parts[1] != variant {
			return nil, malformed(scheme, "value is not an "+variant+" PHC string")
		}
		if parts[2] != "v=19" {
			return nil, malformed(scheme, "unsupported Argon2 version (only v=19)")
		}
		m, t, p, reason := parseArgonParams(parts[3])
		if reason != "" {
			return nil, malformed(scheme, reason)
		}
		salt, err := base64.RawStdEncoding.DecodeString(parts[4])
		if err != nil || len(salt) < argonMinSalt {
			return nil, malformed(scheme, "Argon2 salt must be at least 8 bytes of unpadded base64")
		}
		key, err := base64.RawStdEncoding.DecodeString(parts[5])
		if err != nil || len(key) < argonMinKey {
			return nil, malformed(scheme, "Argon2 hash must be at least 16 bytes of unpadded base64")
		}
		return &argon2Verifier{variant: variant, memory: m, time: t, threads: p, salt: salt, key: key}, nil
	}
}

// parseArgonParams reads "m=M,t=T,p=P" in that order. On failure it
// returns a reason for the error message.
func parseArgonParams(s string) (m, t uint32, p uint8, reason string) {
	const shape = "Argon2 parameters must be m=M,t=T,p=P"
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, shape
	}
	var vals [3]uint64
	for i, k := range []string{"m=", "t=", "p="} {
		num, ok := strings.CutPrefix(fields[i], k)
		if !ok {
			return 0, 0, 0, shape
		}
		n, err := parseDecimal(num)
		if err != nil {
			return 0, 0, 0, shape + " with decimal numbers"
		}
		vals[i] = uint64(n)
	}
	switch {
	case vals[2] < 1 || vals[2] > 255:
		return 0, 0, 0, "Argon2 parallelism out of range 1..255"
	case vals[1] < 1 || vals[1] > 1<<32-1:
		return 0, 0, 0, "Argon2 time cost out of range"
	case vals[0] < 8*vals[2]:
		return 0, 0, 0, "Argon2 memory must be at least 8 KiB per lane"
	case vals[0] > argonMaxMemory:
		return 0, 0, 0, "Argon2 memory above 4 GiB"
	}
	return uint32(vals[0]), uint32(vals[1]), uint8(vals[2]), ""
}

func (v *argon2Verifier) derive(password string) []byte {
	if v.variant == "argon2i" {
		return argon2.Key([]byte(password), v.salt, v.time, v.memory, v.threads, uint32(len(v.key)))
	}
	return argon2.IDKey([]byte(password), v.salt, v.time, v.memory, v.threads, uint32(len(v.key)))
}

func (v *argon2Verifier) match(password, _ string) (bool, error) {
	return subtle.ConstantTimeCompare(v.derive(password), v.key) == 1, nil
}

func (v *argon2Verifier) work() work {
	return work{memKiB: v.memory, time: v.time, threads: uint32(v.threads)}
}

// encode returns the PHC string.
func (v *argon2Verifier) encode() string {
	return "$" + v.variant + "$v=19$m=" + strconv.FormatUint(uint64(v.memory), 10) +
		",t=" + strconv.FormatUint(uint64(v.time), 10) +
		",p=" + strconv.FormatUint(uint64(v.threads), 10) +
		"$" + base64.RawStdEncoding.EncodeToString(v.salt) +
		"$" + base64.RawStdEncoding.EncodeToString(v.key)
}

// argonParams applies the defaults to p.
func argonParams(p Params) (m, t uint32, threads uint8) {
	m, t, threads = p.ArgonMemoryKiB, p.ArgonTime, p.ArgonThreads
	if m == 0 {
		m = argonDefaultMemory
	}
	if t == 0 {
		t = argonDefaultTime
	}
	if threads == 0 {
		threads = argonDefaultThreads
	}
	return m, t, threads
}

// genArgon2 returns the generator for a PHC string with a 16-byte salt and
// a 32-byte hash, as libsodium (and so doveadm) writes.
func genArgon2(variant string) func(password string, p Params) (string, error) {
	scheme := strings.ToUpper(variant)
	return func(password string, p Params) (string, error) {
		m, t, threads := argonParams(p)
		if m < 8*uint32(threads) || m > argonMaxMemory {
			return "", malformed(scheme, "Argon2 memory out of range (8 KiB per lane .. 4 GiB)")
		}
		salt, err := randomBytes(argonGenSalt)
		if err != nil {
			return "", err
		}
		v := &argon2Verifier{variant: variant, memory: m, time: t, threads: threads, salt: salt,
			key: make([]byte, argonGenKey)}
		v.key = v.derive(password)
		return v.encode(), nil
	}
}
