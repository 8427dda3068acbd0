package pwscheme

import (
	"errors"
	"strings"
	"testing"
)

const (
	okSHA512Hash = "VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31"
	okBcryptTail = "o1DLoR1qbkB9lVa9llaiHuPihkSxSB00Rinh9LKCK41bV6w1MRknC"
	okArgonSalt  = "X2V2f6JP5qK7dkM6fHO0zA"
	okArgonHash  = "X6wtFrc57LR3bctXH4tD7V+mqSAVALhoFRhCbIJNVso"
	okSCRAMSalt  = "XGtFbIrxkB3XFXrsSjmfRg=="
	okSCRAM256   = "ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE="
)

// malformedCases lists stored values that Validate and Verify must refuse,
// with the sentinel error they must wrap.
func malformedCases() []struct {
	name, stored string
	want         error
} {
	argon := func(variant, version, params, salt, hash string) string {
		return "{ARGON2ID}$" + variant + "$" + version + "$" + params + "$" + salt + "$" + hash
	}
	return []struct {
		name, stored string
		want         error
	}{
		{"empty", "", ErrMalformed},
		{"no braces", "Tr0ub4dor&3", ErrMalformed},
		{"no closing brace", "{PLAIN Tr0ub4dor&3", ErrMalformed},
		{"empty scheme", "{}Tr0ub4dor&3", ErrMalformed},
		{"empty value", "{PLAIN}", ErrMalformed},
		{"unknown scheme", "{ROT13}Ge0ho4qbe&3", ErrUnknownScheme},
		{"unknown encoding", "{PLAIN.ROT13}Ge0ho4qbe&3", ErrUnknownScheme},
		{"bad base64 plain", "{PLAIN.B64}VHIwdWI0Z!9yJjM=", ErrMalformed},
		{"bad hex plain", "{PLAIN.HEX}54723075623464zz", ErrMalformed},
		{"bad base64 SHA", "{SHA}h0Vy56Wua!lGamrFeLmK26eMaqY=", ErrMalformed},
		{"truncated SHA", "{SHA}h0Vy56WuaklGamrFeLmK26eMaq", ErrMalformed},
		{"SHA256 wrong length hex", "{SHA256.HEX}48486e1514e842346ff405b1e45f44059ae82619f2306f99d0940dcb386e91", ErrMalformed},
		{"SHA512 truncated", "{SHA512}xyu2IccEDPS2R0BjqaeXJpDiUvNa2+fPr/Wx7iMW7+c4LnI9QeATor+8M8MAfFDFhH0hqInM6DhTbqxyeAje", ErrMalformed},
		{"PLAIN-MD5 truncated", "{PLAIN-MD5}4ece57a61323b52ccffdbef0219567", ErrMalformed},
		{"SSHA without salt", "{SSHA}h0Vy56WuaklGamrFeLmK26eMaqY=", ErrMalformed},
		{"SSHA512 short", "{SSHA512}XAtKHLj2jWwFi0+OhHLJZhTUGCI8", ErrMalformed},
		{"SSHA.HEX odd", "{SSHA.HEX}6a2ded6a4f85840dfcf5cbdebe31d2c09251205251f0d9a", ErrMalformed},
		{"CRAM-MD5 short", "{CRAM-MD5}c0a49b541c47c13e0fed75e90df0510e", ErrMalformed},
		{"CRAM-MD5 not hex", "{CRAM-MD5}zza49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232", ErrMalformed},
		{"DIGEST-MD5 truncated", "{DIGEST-MD5}586259300d78ce471a600dda94f1ad", ErrMalformed},
		{"bcrypt cost 3", "{BLF-CRYPT}$2y$03$" + okBcryptTail, ErrMalformed},
		{"bcrypt cost 32", "{BLF-CRYPT}$2y$32$" + okBcryptTail, ErrMalformed},
		{"bcrypt cost letters", "{BLF-CRYPT}$2y$x5$" + okBcryptTail, ErrMalformed},
		{"bcrypt 2x", "{BLF-CRYPT}$2x$05$" + okBcryptTail, ErrMalformed},
		{"bcrypt truncated", "{BLF-CRYPT}$2y$05$" + okBcryptTail[:40], ErrMalformed},
		{"bcrypt bad chars", "{BLF-CRYPT}$2y$05$" + strings.Repeat("!", 53), ErrMalformed},
		{"bcrypt in SHA512-CRYPT", "{SHA512-CRYPT}$2y$05$" + okBcryptTail, ErrMalformed},
		{"sha-crypt rounds=0", "{SHA512-CRYPT}$6$rounds=0$gm3.UboKmtI9Val6$" + okSHA512Hash, ErrMalformed},
		{"sha-crypt rounds=999", "{SHA512-CRYPT}$6$rounds=999$gm3.UboKmtI9Val6$" + okSHA512Hash, ErrMalformed},
		{"sha-crypt rounds huge", "{SHA512-CRYPT}$6$rounds=1000000000$gm3.UboKmtI9Val6$" + okSHA512Hash, ErrMalformed},
		{"sha-crypt rounds sign", "{SHA512-CRYPT}$6$rounds=+5000$gm3.UboKmtI9Val6$" + okSHA512Hash, ErrMalformed},
		{"sha-crypt rounds unterminated", "{SHA512-CRYPT}$6$rounds=5000", ErrMalformed},
		{"sha-crypt truncated", "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$" + okSHA512Hash[:80], ErrMalformed},
		{"sha-crypt long salt", "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6X$" + okSHA512Hash, ErrMalformed},
		{"sha-crypt no salt sep", "{SHA512-CRYPT}$6$" + okSHA512Hash, ErrMalformed},
		{"sha-crypt extra field", "{SHA512-CRYPT}$6$a$b$" + okSHA512Hash, ErrMalformed},
		{"sha256 in sha512", "{SHA512-CRYPT}$5$SCVPYq9Sqbq88rQW$mENZGGvOmAVMfd8NgL2mfYIdtGJEsNKVh2FTlL6GfXD", ErrMalformed},
		{"md5-crypt truncated", "{MD5-CRYPT}$1$xwPImcGU$r76bbKRP0aPUu5Zus00", ErrMalformed},
		{"md5-crypt long salt", "{MD5-CRYPT}$1$xwPImcGUx$r76bbKRP0aPUu5Zus00q4.", ErrMalformed},
		{"md5-crypt wrong prefix", "{MD5-CRYPT}$5$xwPImcGU$r76bbKRP0aPUu5Zus00q4.", ErrMalformed},
		{"argon2 m=0", argon("argon2id", "v=19", "m=0,t=3,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 m below 8p", argon("argon2id", "v=19", "m=15,t=3,p=2", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 m huge", argon("argon2id", "v=19", "m=99999999999,t=3,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 m above 4GiB", argon("argon2id", "v=19", "m=4194305,t=3,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 t=0", argon("argon2id", "v=19", "m=65536,t=0,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 p=0", argon("argon2id", "v=19", "m=65536,t=3,p=0", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 p=256", argon("argon2id", "v=19", "m=65536,t=3,p=256", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 param order", argon("argon2id", "v=19", "t=3,m=65536,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 param missing", argon("argon2id", "v=19", "m=65536,t=3", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 v=16", argon("argon2id", "v=16", "m=65536,t=3,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 no version", "{ARGON2ID}$argon2id$m=65536,t=3,p=1$" + okArgonSalt + "$" + okArgonHash, ErrMalformed},
		{"argon2 wrong variant", argon("argon2i", "v=19", "m=65536,t=3,p=1", okArgonSalt, okArgonHash), ErrMalformed},
		{"argon2 bad salt base64", argon("argon2id", "v=19", "m=65536,t=3,p=1", "X2V2f6JP5qK7dkM6fHO0z!", okArgonHash), ErrMalformed},
		{"argon2 padded salt", argon("argon2id", "v=19", "m=65536,t=3,p=1", okArgonSalt+"==", okArgonHash), ErrMalformed},
		{"argon2 short salt", argon("argon2id", "v=19", "m=65536,t=3,p=1", "X2V2f6JP", okArgonHash), ErrMalformed},
		{"argon2 truncated hash", argon("argon2id", "v=19", "m=65536,t=3,p=1", okArgonSalt, okArgonHash[:12]), ErrMalformed},
		{"pbkdf2 rounds=0", "{PBKDF2}$1$WAU12ZdugWW6vt2Z$0$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", ErrMalformed},
		{"pbkdf2 rounds neg", "{PBKDF2}$1$WAU12ZdugWW6vt2Z$-5$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", ErrMalformed},
		{"pbkdf2 wrong prefix", "{PBKDF2}$2$WAU12ZdugWW6vt2Z$5000$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", ErrMalformed},
		{"pbkdf2 short hex", "{PBKDF2}$1$WAU12ZdugWW6vt2Z$5000$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc", ErrMalformed},
		{"pbkdf2 bad hex", "{PBKDF2}$1$WAU12ZdugWW6vt2Z$5000$x8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", ErrMalformed},
		{"pbkdf2 missing field", "{PBKDF2}$1$WAU12ZdugWW6vt2Z$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", ErrMalformed},
		{"pbkdf2 empty salt", "{PBKDF2}$1$$5000$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", ErrMalformed},
		{"scram 3 fields", "{SCRAM-SHA-256}4096," + okSCRAMSalt + "," + okSCRAM256, ErrMalformed},
		{"scram 5 fields", "{SCRAM-SHA-256}4096," + okSCRAMSalt + "," + okSCRAM256 + "," + okSCRAM256 + ",x", ErrMalformed},
		{"scram iter 0", "{SCRAM-SHA-256}0," + okSCRAMSalt + "," + okSCRAM256 + "," + okSCRAM256, ErrMalformed},
		{"scram iter text", "{SCRAM-SHA-256}many," + okSCRAMSalt + "," + okSCRAM256 + "," + okSCRAM256, ErrMalformed},
		{"scram bad base64", "{SCRAM-SHA-256}4096," + okSCRAMSalt + ",ZsZotf4Mz0sgLVDKUnUhp2Hxbs!wVezxrxc1Awz+EHE=," + okSCRAM256, ErrMalformed},
		{"scram short key", "{SCRAM-SHA-256}4096," + okSCRAMSalt + ",Nl4RicMnxlfhl7J48YA1BsqIhCY=," + okSCRAM256, ErrMalformed},
		{"scram empty salt", "{SCRAM-SHA-1}4096,,Nl4RicMnxlfhl7J48YA1BsqIhCY=,s1886SfywE6/8MjP4ksjzEk/674=", ErrMalformed},
		{"crypt DES", "{CRYPT}abJnggxhB/yWI", ErrUnknownScheme},
		{"crypt unknown method", "{CRYPT}$7$CU..../....X", ErrUnknownScheme},
		{"crypt BSDi", "{CRYPT}_J9..CCCCXBrJUJV154M", ErrUnknownScheme},
		{"crypt garbage", "{CRYPT}not a hash", ErrMalformed},
		{"crypt bcrypt cost 3", "{CRYPT}$2y$03$" + okBcryptTail, ErrMalformed},
		{"crypt sha rounds=0", "{CRYPT}$6$rounds=0$gm3.UboKmtI9Val6$" + okSHA512Hash, ErrMalformed},
		{"crypt yescrypt bad params", "{CRYPT}$y$jZZ$z7ztFz2FayrKI79/jEwlL.$u5x/j193MQ09wbFaRGYr0AH/A/jh3kunjuhYRVRNkmC", ErrUnknownScheme},
		{"crypt yescrypt truncated", "{CRYPT}$y$j75$z7ztFz2FayrKI79/jEwlL.$u5x/j193MQ09wbFaRGYr0AH", ErrMalformed},
		{"crypt yescrypt bad salt", "{CRYPT}$y$j75$/$u5x/j193MQ09wbFaRGYr0AH/A/jh3kunjuhYRVRNkmC", ErrMalformed},
		{"DES-CRYPT scheme", "{DES-CRYPT}abJnggxhB/yWI", ErrUnknownScheme},
		{"OTP scheme", "{OTP}sha1 1024 seed 0123456789abcdef", ErrUnknownScheme},
		{"plain-trunc no length", "{PLAIN-TRUNC}Tr0ub4dor&3", ErrMalformed},
		{"plain-trunc zero", "{PLAIN-TRUNC}0-Tr0ub4dor&3", ErrMalformed},
		{"plain-trunc empty", "{PLAIN-TRUNC}12-", ErrMalformed},
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range malformedCases() {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate(tc.stored); !errors.Is(err, tc.want) {
				t.Fatalf("Validate(%q) = %v, want %v", tc.stored, err, tc.want)
			}
			ok, err := Verify(tc.stored, "Tr0ub4dor&3", "alice@example.com")
			if ok || !errors.Is(err, tc.want) {
				t.Fatalf("Verify(%q) = %v, %v; want false, %v", tc.stored, ok, err, tc.want)
			}
			if _, perr := Parse(tc.stored); perr != nil && !errors.Is(perr, tc.want) {
				t.Errorf("Parse(%q) = %v, want nil or %v", tc.stored, perr, tc.want)
			}
			// The message names the scheme, never the value.
			if _, value, found := strings.Cut(tc.stored, "}"); found && len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Errorf("error %q contains the stored value", err)
			}
			if !strings.HasPrefix(err.Error(), "pwscheme: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
			if !NeedsRehash(tc.stored, "ARGON2ID", Params{}) {
				t.Errorf("NeedsRehash(%q) = false for an unusable value", tc.stored)
			}
		})
	}
}

func TestParseOnlySyntax(t *testing.T) {
	// Parse accepts a known scheme without looking inside the value.
	h, err := Parse("{SHA512-CRYPT}junk")
	if err != nil || h.Scheme != "SHA512-CRYPT" || h.Value != "junk" {
		t.Errorf("Parse = %+v, %v", h, err)
	}
	for _, s := range []string{"{DES-CRYPT}abJnggxhB/yWI", "{OTP}x"} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%s) = %v; known schemes parse even when unsupported", s, err)
		}
	}
	// A scheme name that looks like a secret is not echoed.
	_, err = Parse("{my secret password!}x")
	if !errors.Is(err, ErrUnknownScheme) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Parse(odd scheme) error = %v", err)
	}
}
