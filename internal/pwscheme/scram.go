package pwscheme

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"
)

// SCRAM generation parameters (Dovecot 2.3 always writes 4096 iterations
// and a 16-byte salt).
const (
	scramDefaultIter = 4096
	scramGenSalt     = 16
)

// SCRAM is a parsed SCRAM verifier (RFC 5802 / RFC 7677 stored
// credentials).
type SCRAM struct {
	// Hash is "SHA-1" or "SHA-256".
	Hash string
	// Iter is the PBKDF2 iteration count.
	Iter int
	// Salt is the raw salt.
	Salt []byte
	// StoredKey is H(HMAC(SaltedPassword, "Client Key")).
	StoredKey []byte
	// ServerKey is HMAC(SaltedPassword, "Server Key").
	ServerKey []byte
}

// scramHash maps "SHA-1"/"SHA-256" (or the scheme names, any case) to the
// canonical hash name, its hash generator and digest size.
func scramHash(name string) (canon string, gen scram.HashGeneratorFcn, size int, ok bool) {
	n := strings.TrimPrefix(strings.ToUpper(name), "SCRAM-")
	switch n {
	case "SHA-1", "SHA1":
		return "SHA-1", scram.SHA1, sha1.Size, true
	case "SHA-256", "SHA256":
		return "SHA-256", scram.SHA256, sha256.Size, true
	}
	return "", nil, 0, false
}

// scheme returns the scheme name for s.
func (s *SCRAM) scheme() string { return "SCRAM-" + s.Hash }

// value returns the Dovecot value "iter,salt,StoredKey,ServerKey".
func (s *SCRAM) value() string {
	enc := base64.StdEncoding
	return strconv.Itoa(s.Iter) + "," + enc.EncodeToString(s.Salt) + "," +
		enc.EncodeToString(s.StoredKey) + "," + enc.EncodeToString(s.ServerKey)
}

// String returns the stored form, e.g. "{SCRAM-SHA-256}4096,<base64
// salt>,<base64 StoredKey>,<base64 ServerKey>".
func (s *SCRAM) String() string {
	return "{" + s.scheme() + "}" + s.value()
}

// StoredCredentials returns s in the form xdg-go/scram's Server looks up.
func (s *SCRAM) StoredCredentials() scram.StoredCredentials {
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(s.Salt), Iters: s.Iter},
		StoredKey:  s.StoredKey,
		ServerKey:  s.ServerKey,
	}
}

// ParseSCRAM parses a {SCRAM-SHA-1} or {SCRAM-SHA-256} value. It rejects
// other schemes (ErrUnknownScheme), and wrong field counts, iteration
// counts below 1, empty salts, bad base64 and keys of the wrong length
// (ErrMalformed).
func ParseSCRAM(stored string) (*SCRAM, error) {
	h, err := Parse(stored)
	if err != nil {
		return nil, err
	}
	if h.Scheme != "SCRAM-SHA-1" && h.Scheme != "SCRAM-SHA-256" {
		return nil, unsupported(h.Scheme, "not a SCRAM verifier")
	}
	v, err := parseVerifier(h)
	if err != nil {
		return nil, err
	}
	return v.(*scramVerifier).s, nil
}

// parseSCRAMDef returns the parser of a SCRAM scheme's value.
func parseSCRAMDef(scheme string) func(raw []byte) (verifier, error) {
	canon, _, size, _ := scramHash(scheme)
	return func(raw []byte) (verifier, error) {
		fields := strings.Split(string(raw), ",")
		if len(fields) != 4 {
			return nil, malformed(scheme, "value must be iter,salt,StoredKey,ServerKey")
		}
		iter, err := parseDecimal(fields[0])
		if err != nil || iter < 1 || iter > math.MaxInt32 {
			return nil, malformed(scheme, "iteration count out of range")
		}
		salt, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil || len(salt) == 0 {
			return nil, malformed(scheme, "salt must be non-empty base64")
		}
		stored, err := base64.StdEncoding.DecodeString(fields[2])
		if err != nil || len(stored) != size {
			return nil, malformed(scheme, "StoredKey must be base64 of "+strconv.Itoa(size)+" bytes")
		}
		server, err := base64.StdEncoding.DecodeString(fields[3])
		if err != nil || len(server) != size {
			return nil, malformed(scheme, "ServerKey must be base64 of "+strconv.Itoa(size)+" bytes")
		}
		return &scramVerifier{s: &SCRAM{Hash: canon, Iter: iter, Salt: salt, StoredKey: stored, ServerKey: server}}, nil
	}
}

// DeriveSCRAM computes the SCRAM verifier of password for hash ("SHA-1" or
// "SHA-256"), iter and salt. The password is SASLprep'd first (RFC 5802);
// a password SASLprep refuses (unassigned code points such as emoji,
// prohibited characters, bad bidirectional text) gives an error wrapping
// ErrMalformed.
func DeriveSCRAM(hash, password string, iter int, salt []byte) (*SCRAM, error) {
	canon, _, _, ok := scramHash(hash)
	if !ok {
		return nil, unknown("SCRAM-" + hash)
	}
	scheme := "SCRAM-" + canon
	prepped, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return nil, malformed(scheme, "password rejected by SASLprep (RFC 4013)")
	}
	return deriveSCRAMRaw(canon, prepped, iter, salt)
}

// deriveSCRAMRaw computes the verifier of password as it is.
func deriveSCRAMRaw(hash, password string, iter int, salt []byte) (*SCRAM, error) {
	canon, gen, _, ok := scramHash(hash)
	if !ok {
		return nil, unknown("SCRAM-" + hash)
	}
	scheme := "SCRAM-" + canon
	if iter < 1 {
		return nil, malformed(scheme, "iteration count must be at least 1")
	}
	if len(salt) == 0 {
		return nil, malformed(scheme, "empty salt")
	}
	client, err := gen.NewClientUnprepped("", password, "")
	if err != nil {
		return nil, malformed(scheme, "cannot set up the SCRAM client")
	}
	creds, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iter})
	if err != nil {
		return nil, malformed(scheme, "key derivation failed")
	}
	return &SCRAM{Hash: canon, Iter: iter, Salt: append([]byte(nil), salt...),
		StoredKey: creds.StoredKey, ServerKey: creds.ServerKey}, nil
}

// scramVerifier checks a plaintext password against a SCRAM verifier.
type scramVerifier struct {
	s *SCRAM
}

// match tries the SASLprep'd password (what Generate and RFC clients use)
// and the raw one (what Dovecot writes); both are always computed when they
// differ, so the time does not tell which form matched.
func (v *scramVerifier) match(password, _ string) (bool, error) {
	candidates := []string{password}
	if prepped, err := stringprep.SASLprep.Prepare(password); err == nil && prepped != password {
		candidates = append(candidates, prepped)
	}
	matched := 0
	for _, c := range candidates {
		d, err := deriveSCRAMRaw(v.s.Hash, c, v.s.Iter, v.s.Salt)
		if err != nil {
			return false, err
		}
		matched |= subtle.ConstantTimeCompare(d.StoredKey, v.s.StoredKey) &
			subtle.ConstantTimeCompare(d.ServerKey, v.s.ServerKey)
	}
	return matched == 1, nil
}

func (v *scramVerifier) work() work { return work{rounds: v.s.Iter} }

// genSCRAM returns the generator of a SCRAM scheme: SASLprep'd password,
// 4096 iterations, 16-byte random salt.
func genSCRAM(scheme string) func(password string, p Params) (string, error) {
	return func(password string, _ Params) (string, error) {
		salt, err := randomBytes(scramGenSalt)
		if err != nil {
			return "", err
		}
		s, err := DeriveSCRAM(scheme, password, scramDefaultIter, salt)
		if err != nil {
			return "", err
		}
		return s.value(), nil
	}
}
