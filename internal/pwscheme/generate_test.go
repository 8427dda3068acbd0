package pwscheme

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// fastParams returns cheap parameters for scheme, so the round trip stays
// fast; the default costs are checked in TestGenerateFormats.
func fastParams(scheme string) Params {
	p := Params{ArgonMemoryKiB: 1024, ArgonTime: 1, User: "alice@example.com"}
	switch scheme {
	case "BLF-CRYPT":
		p.Rounds = 4
	case "SHA256-CRYPT", "SHA512-CRYPT":
		p.Rounds = 1000
	case "PBKDF2":
		p.Rounds = 100
	}
	return p
}

func generatable() []string {
	return []string{"ARGON2ID", "ARGON2I", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "PBKDF2",
		"SSHA512", "SSHA256", "SSHA", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "DIGEST-MD5"}
}

func TestGenerateRoundTrip(t *testing.T) {
	passwords := []string{"Tr0ub4dor&3", "pässwörd€", "correct horse battery staple", "Ｐａｓｓ１", "x"}
	for _, scheme := range generatable() {
		for _, pw := range passwords {
			p := fastParams(scheme)
			stored, err := Generate(scheme, pw, p)
			if err != nil {
				t.Fatalf("Generate(%s, %q): %v", scheme, pw, err)
			}
			if !strings.HasPrefix(stored, "{"+scheme+"}") {
				t.Errorf("Generate(%s) = %s: wrong prefix", scheme, stored)
			}
			if err := Validate(stored); err != nil {
				t.Errorf("Validate(Generate(%s)): %v", scheme, err)
			}
			if ok, err := Verify(stored, pw, p.User); !ok || err != nil {
				t.Errorf("Verify(Generate(%s, %q)) = %v, %v; want true", scheme, pw, ok, err)
			}
			if ok, err := Verify(stored, pw+"x", p.User); ok || err != nil {
				t.Errorf("Verify(Generate(%s, %q), +x) = %v, %v; want false", scheme, pw, ok, err)
			}
			if NeedsRehash(stored, scheme, p) {
				t.Errorf("NeedsRehash(Generate(%s), %s, same params) = true", scheme, scheme)
			}
		}
	}
}

func TestGenerateSaltsDiffer(t *testing.T) {
	for _, scheme := range generatable() {
		switch scheme {
		case "PLAIN", "CRAM-MD5", "DIGEST-MD5":
			continue // deterministic by design
		}
		p := fastParams(scheme)
		a, errA := Generate(scheme, "same", p)
		b, errB := Generate(scheme, "same", p)
		if errA != nil || errB != nil || a == b {
			t.Errorf("Generate(%s) twice = %s, %s (%v, %v); want two different salts", scheme, a, b, errA, errB)
		}
	}
}

func TestGenerateFormats(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		p      Params
		re     string
	}{
		{"SHA512-CRYPT", Params{}, `^\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$`},
		{"SHA512-CRYPT", Params{Rounds: 5000}, `^\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$`},
		{"SHA512-CRYPT", Params{Rounds: 10000}, `^\{SHA512-CRYPT\}\$6\$rounds=10000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$`},
		{"SHA256-CRYPT", Params{}, `^\{SHA256-CRYPT\}\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$`},
		{"BLF-CRYPT", Params{}, `^\{BLF-CRYPT\}\$2a\$10\$[./0-9A-Za-z]{53}$`},
		{"BLF-CRYPT", Params{Rounds: 5}, `^\{BLF-CRYPT\}\$2a\$05\$[./0-9A-Za-z]{53}$`},
		{"ARGON2ID", Params{}, `^\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		{"ARGON2I", Params{ArgonMemoryKiB: 2048, ArgonTime: 2, ArgonThreads: 2}, `^\{ARGON2I\}\$argon2i\$v=19\$m=2048,t=2,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		{"PBKDF2", Params{}, `^\{PBKDF2\}\$1\$[./0-9A-Za-z]{16}\$5000\$[0-9a-f]{40}$`},
		{"SSHA512", Params{}, `^\{SSHA512\}[A-Za-z0-9+/]{107}=$`},
		{"SSHA256", Params{}, `^\{SSHA256\}[A-Za-z0-9+/]{64}$`},
		{"SSHA", Params{}, `^\{SSHA\}[A-Za-z0-9+/]{48}$`},
		{"SCRAM-SHA-256", Params{Rounds: 10}, `^\{SCRAM-SHA-256\}4096,[A-Za-z0-9+/]{22}==,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=$`},
		{"SCRAM-SHA-1", Params{}, `^\{SCRAM-SHA-1\}4096,[A-Za-z0-9+/]{22}==,[A-Za-z0-9+/]{27}=,[A-Za-z0-9+/]{27}=$`},
		{"cram-md5", Params{}, `^\{CRAM-MD5\}[0-9a-f]{64}$`},
		{"HMAC-MD5", Params{}, `^\{CRAM-MD5\}[0-9a-f]{64}$`},
		{"CLEARTEXT", Params{}, `^\{PLAIN\}Tr0ub4dor&3$`},
		{"DIGEST-MD5", Params{User: "alice@example.com"}, `^\{DIGEST-MD5\}586259300d78ce471a600dda94f1ad20$`},
	} {
		got, err := Generate(tc.scheme, "Tr0ub4dor&3", tc.p)
		if err != nil {
			t.Errorf("Generate(%s, %+v): %v", tc.scheme, tc.p, err)
			continue
		}
		if !regexp.MustCompile(tc.re).MatchString(got) {
			t.Errorf("Generate(%s, %+v) = %s, want match %s", tc.scheme, tc.p, got, tc.re)
		}
		if ok, err := Verify(got, "Tr0ub4dor&3", tc.p.User); !ok || err != nil {
			t.Errorf("Verify(Generate(%s)) = %v, %v", tc.scheme, ok, err)
		}
	}
}

func TestGenerateRefused(t *testing.T) {
	for _, tc := range []struct {
		scheme, password string
		p                Params
		want             error
	}{
		{"MD5-CRYPT", "pw", Params{}, ErrUnknownScheme},
		{"MD5", "pw", Params{}, ErrUnknownScheme},
		{"PLAIN-MD5", "pw", Params{}, ErrUnknownScheme},
		{"LDAP-MD5", "pw", Params{}, ErrUnknownScheme},
		{"SHA", "pw", Params{}, ErrUnknownScheme},
		{"SHA1", "pw", Params{}, ErrUnknownScheme},
		{"SHA256", "pw", Params{}, ErrUnknownScheme},
		{"SMD5", "pw", Params{}, ErrUnknownScheme},
		{"PLAIN-MD4", "pw", Params{}, ErrUnknownScheme},
		{"DES-CRYPT", "pw", Params{}, ErrUnknownScheme},
		{"CRYPT", "pw", Params{}, ErrUnknownScheme},
		{"PLAIN-TRUNC", "pw", Params{}, ErrUnknownScheme},
		{"OTP", "pw", Params{}, ErrUnknownScheme},
		{"NOPE", "pw", Params{}, ErrUnknownScheme},
		{"SHA256.HEX", "pw", Params{}, ErrUnknownScheme},
		{"PLAIN", "", Params{}, ErrMalformed},
		{"BLF-CRYPT", "pw", Params{Rounds: 3}, ErrMalformed},
		{"BLF-CRYPT", "pw", Params{Rounds: 32}, ErrMalformed},
		{"BLF-CRYPT", strings.Repeat("p", 73), Params{Rounds: 4}, ErrMalformed},
		{"SHA512-CRYPT", "pw", Params{Rounds: 999}, ErrMalformed},
		{"SHA256-CRYPT", "pw", Params{Rounds: 1000000000}, ErrMalformed},
		{"PBKDF2", "pw", Params{Rounds: -1}, ErrMalformed},
		{"ARGON2ID", "pw", Params{ArgonMemoryKiB: 7}, ErrMalformed},
		{"ARGON2ID", "pw", Params{ArgonMemoryKiB: 16, ArgonThreads: 4}, ErrMalformed},
		{"ARGON2ID", "pw", Params{ArgonMemoryKiB: 5 << 20}, ErrMalformed},
		{"DIGEST-MD5", "pw", Params{}, ErrMalformed},
	} {
		got, err := Generate(tc.scheme, tc.password, tc.p)
		if !errors.Is(err, tc.want) || got != "" {
			t.Errorf("Generate(%s, %+v) = %q, %v; want error %v", tc.scheme, tc.p, got, err, tc.want)
		}
		if err != nil && tc.password != "" && len(tc.password) > 4 && strings.Contains(err.Error(), tc.password) {
			t.Errorf("Generate(%s) error contains the password", tc.scheme)
		}
	}
}

func TestBcryptUsesFirst72Bytes(t *testing.T) {
	// C bcrypt (and so Dovecot) ignores bytes after the 72nd; imported
	// values must verify the same way.
	long := strings.Repeat("a", 72)
	stored, err := Generate("BLF-CRYPT", long, Params{Rounds: 4})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify(stored, long+"tail", ""); !ok || err != nil {
		t.Errorf("Verify(72 bytes + tail) = %v, %v; want true", ok, err)
	}
}
