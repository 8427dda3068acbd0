package pwscheme

import "testing"

func BenchmarkVerify(b *testing.B) {
	cases := []struct{ name, stored, password string }{
		{"ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$X2V2f6JP5qK7dkM6fHO0zA$X6wtFrc57LR3bctXH4tD7V+mqSAVALhoFRhCbIJNVso", "Tr0ub4dor&3"},
		{"BLF-CRYPT-10", "{BLF-CRYPT}$2y$10$C66SftyKIUT21kMNeJFQ9uS1fJNGnSowyTTxD/L0hltotnZY24F/y", "Tr0ub4dor&3"},
		{"BLF-CRYPT-5", "{BLF-CRYPT}$2y$05$o1DLoR1qbkB9lVa9llaiHuPihkSxSB00Rinh9LKCK41bV6w1MRknC", "Tr0ub4dor&3"},
		{"SHA512-CRYPT-5000", "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31", "Tr0ub4dor&3"},
		{"SHA256-CRYPT-5000", "{SHA256-CRYPT}$5$SCVPYq9Sqbq88rQW$mENZGGvOmAVMfd8NgL2mfYIdtGJEsNKVh2FTlL6GfXD", "Tr0ub4dor&3"},
		{"PBKDF2-5000", "{PBKDF2}$1$WAU12ZdugWW6vt2Z$5000$f8d49419ce1a63f1f23990c8e7e3104e7ec2dc1b", "Tr0ub4dor&3"},
		{"SSHA512", "{SSHA512}XAtKHLj2jWwFi0+OhHLJZhTUGCI8sa8HgUvWEytwzdYemBoJNUZWMxs8HE63xe7lUjiKQCQydwP3BNlQZFZS0/zvj+I=", "Tr0ub4dor&3"},
		{"SCRAM-SHA-256", "{SCRAM-SHA-256}4096,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg=", "Tr0ub4dor&3"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				ok, err := Verify(c.stored, c.password, "")
				if !ok || err != nil {
					b.Fatalf("Verify = %v, %v", ok, err)
				}
			}
		})
	}
	b.Run("CRAM-MD5-digest", func(b *testing.B) {
		const stored = "{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"
		challenge := []byte("<1896.697170952@postoffice.reston.mci.net>")
		for b.Loop() {
			d, err := CRAMMD5Digest(stored, challenge)
			if err != nil || d != "b913a602c7eda7a495b4e6e7334d3890" {
				b.Fatalf("CRAMMD5Digest = %s, %v", d, err)
			}
		}
	})
}
