package pwscheme

import "testing"

func TestNeedsRehash(t *testing.T) {
	const (
		sha512Default = "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31"
		sha512R10000  = "{SHA512-CRYPT}$6$rounds=10000$wLisGuvqbkoj6kAV$DcE79.Eg3nAFAit1ce7mMG5Lac1vJ6kRH5PgoBSmJI6dHzctcLntZMI1to0pTHBMZxRMTLNnMMy.SNMuuQhvZ/"
		sha256R1000   = "{SHA256-CRYPT}$5$rounds=1000$ZnqG39rbfde8tRux$bv7FV374u8/bB2xOhOQo.4chWKg2Rj4RZQ2bL3kJFm."
		blf5          = "{BLF-CRYPT}$2y$05$o1DLoR1qbkB9lVa9llaiHuPihkSxSB00Rinh9LKCK41bV6w1MRknC"
		blf10         = "{BLF-CRYPT}$2y$10$C66SftyKIUT21kMNeJFQ9uS1fJNGnSowyTTxD/L0hltotnZY24F/y"
		cryptBlf5     = "{CRYPT}$2y$05$w4m5JTOoPDT7PYb3Y0AOk.pcvgLhOoeWwWkCm7gO4SdAXbQKaXAui"
		argonID       = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$X2V2f6JP5qK7dkM6fHO0zA$X6wtFrc57LR3bctXH4tD7V+mqSAVALhoFRhCbIJNVso"
		argonI        = "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$t3PnzD9yaGl95/r5TwQLrw$TCn9f7dHRTeTZweZEtTpXb6M3QESNcpCbFl4xrLzaRA"
		pbkdf5000     = "{PBKDF2}$1$WAU12ZdugWW6vt2Z$5000$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b"
		pbkdf10000    = "{PBKDF2}$1$Oj81yCtyf8CTCgUG$10000$d36d98be4d96dd134251ab3da8445d9727591f46"
		scram4096     = "{SCRAM-SHA-256}4096,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg="
		cram          = "{CRAM-MD5}c0a49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232"
	)
	scram100 := mustDerive(t, 100)
	for _, tc := range []struct {
		name, stored, want string
		p                  Params
		rehash             bool
	}{
		{"sha512 same", sha512Default, "SHA512-CRYPT", Params{}, false},
		{"sha512 explicit 5000", sha512Default, "SHA512-CRYPT", Params{Rounds: 5000}, false},
		{"sha512 more rounds wanted", sha512Default, "SHA512-CRYPT", Params{Rounds: 10000}, true},
		{"sha512 stronger than wanted", sha512R10000, "SHA512-CRYPT", Params{}, false},
		{"sha256 1000 rounds", sha256R1000, "SHA256-CRYPT", Params{}, true},
		{"sha512 to argon2id", sha512Default, "ARGON2ID", Params{}, true},
		{"bcrypt 5 to default 10", blf5, "BLF-CRYPT", Params{}, true},
		{"bcrypt 5 to 5", blf5, "BLF-CRYPT", Params{Rounds: 5}, false},
		{"bcrypt 10 to default", blf10, "BLF-CRYPT", Params{}, false},
		{"bcrypt 10 to 12", blf10, "blf-crypt", Params{Rounds: 12}, true},
		{"crypt bcrypt to BLF-CRYPT", cryptBlf5, "BLF-CRYPT", Params{Rounds: 4}, true},
		{"argon2id defaults", argonID, "ARGON2ID", Params{}, false},
		{"argon2id more memory", argonID, "ARGON2ID", Params{ArgonMemoryKiB: 131072}, true},
		{"argon2id more time", argonID, "ARGON2ID", Params{ArgonTime: 4}, true},
		{"argon2id less wanted", argonID, "ARGON2ID", Params{ArgonMemoryKiB: 1024, ArgonTime: 1}, false},
		{"argon2id more threads only", argonID, "ARGON2ID", Params{ArgonThreads: 4}, false},
		{"argon2i doveadm to defaults", argonI, "ARGON2I", Params{}, true},
		{"argon2i to argon2id", argonI, "ARGON2ID", Params{ArgonMemoryKiB: 1024, ArgonTime: 1}, true},
		{"pbkdf2 same", pbkdf5000, "PBKDF2", Params{}, false},
		{"pbkdf2 more", pbkdf5000, "PBKDF2", Params{Rounds: 10000}, true},
		{"pbkdf2 stronger", pbkdf10000, "PBKDF2", Params{}, false},
		{"scram 4096", scram4096, "SCRAM-SHA-256", Params{}, false},
		{"scram 100 iterations", scram100, "SCRAM-SHA-256", Params{}, true},
		{"scram sha256 to sha1", scram4096, "SCRAM-SHA-1", Params{}, true},
		{"cram same", cram, "CRAM-MD5", Params{}, false},
		{"cram via alias", cram, "HMAC-MD5", Params{}, false},
		{"plain alias", "{CLEAR}Tr0ub4dor&3", "PLAIN", Params{}, false},
		{"plain to argon2id", "{PLAIN}Tr0ub4dor&3", "ARGON2ID", Params{}, true},
		{"garbage stored", "{SHA512-CRYPT}junk", "SHA512-CRYPT", Params{}, true},
		{"no prefix", "Tr0ub4dor&3", "ARGON2ID", Params{}, true},
		{"want unknown", sha512Default, "NOPE", Params{}, false},
		{"want not generatable", "{MD5-CRYPT}$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.", "MD5-CRYPT", Params{}, false},
		{"want not generatable other stored", sha512Default, "SHA", Params{}, false},
	} {
		if got := NeedsRehash(tc.stored, tc.want, tc.p); got != tc.rehash {
			t.Errorf("%s: NeedsRehash(%s, %+v) = %v, want %v", tc.name, tc.want, tc.p, got, tc.rehash)
		}
	}
}

func mustDerive(t *testing.T, iter int) string {
	t.Helper()
	s, err := DeriveSCRAM("SHA-256", "Tr0ub4dor&3", iter, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s.String()
}
