package pwscheme

import "strings"

// Params holds the cost parameters for Generate and NeedsRehash. Zero
// values select the defaults.
type Params struct {
	// Rounds is the SHA256-CRYPT/SHA512-CRYPT rounds (0 = 5000; written
	// as "rounds=N$" only when not 5000, like doveadm), the PBKDF2 rounds
	// (0 = 5000) or the BLF-CRYPT cost (0 = 10; doveadm's default is 5,
	// popadm chooses 10 for security). SCRAM always uses 4096 iterations,
	// like Dovecot.
	Rounds int
	// ArgonMemoryKiB is the Argon2 memory in KiB (0 = 65536).
	ArgonMemoryKiB uint32
	// ArgonTime is the Argon2 number of passes (0 = 3).
	ArgonTime uint32
	// ArgonThreads is the Argon2 parallelism (0 = 1).
	ArgonThreads uint8
	// User is the login name for DIGEST-MD5 ("user@realm").
	User string
}

// Generate returns "{SCHEME}value" for password, in the exact format
// doveadm pw writes. Supported: ARGON2ID, ARGON2I, BLF-CRYPT, SHA512-CRYPT,
// SHA256-CRYPT, PBKDF2, SSHA512, SSHA256, SSHA, SCRAM-SHA-256, SCRAM-SHA-1,
// CRAM-MD5, PLAIN and DIGEST-MD5 (aliases are accepted, the canonical name
// is written). Other known schemes are refused with an error wrapping
// ErrUnknownScheme; bad parameters, a password SASLprep refuses (SCRAM), a
// password longer than 72 bytes (BLF-CRYPT), an empty password or a
// missing Params.User
// (DIGEST-MD5) give an error wrapping ErrMalformed.
//
// CRAM-MD5, DIGEST-MD5 and PLAIN use the raw password bytes, SCRAM the
// SASLprep'd password.
func Generate(scheme, password string, p Params) (string, error) {
	if strings.Contains(scheme, ".") {
		return "", unsupported(safeName(scheme), "encoding suffixes are not written; use the plain scheme name")
	}
	d, ok := lookupDef(scheme, "")
	if !ok {
		return "", unknown(scheme)
	}
	if d.gen == nil {
		return "", unsupported(d.name, "not generated: "+d.noGen)
	}
	if password == "" {
		return "", malformed(d.name, "empty password")
	}
	value, err := d.gen(password, p)
	if err != nil {
		return "", err
	}
	return "{" + d.name + "}" + value, nil
}
