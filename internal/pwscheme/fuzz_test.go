package pwscheme

import (
	"errors"
	"testing"
)

// cheapToVerify reports whether checking a password against stored is fast
// enough for fuzzing: values that parse with a high cost (which the formats
// allow, up to days per check) are skipped.
func cheapToVerify(stored string) bool {
	_, v, err := parseStored(stored)
	if err != nil {
		return true
	}
	w := v.work()
	return w.rounds <= 20000 && w.cost <= 6 && w.memKiB <= 4096 && w.time <= 4
}

func FuzzVerify(f *testing.F) {
	for _, v := range loadVectors(f) {
		if cheapToVerify(v.stored) {
			f.Add(v.stored, v.plaintext, vectorUser)
		}
	}
	for _, tc := range malformedCases() {
		f.Add(tc.stored, "Tr0ub4dor&3", "")
	}
	f.Add("{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw", "")
	f.Add("{CRYPT}$y$j7.$$cmp7v9bzgyAhctAaiyqG56MBYN2IYzfI5LvybJCKacD", "", "")
	f.Add("{PLAIN-TRUNC}3-abc", "abcdef", "")
	f.Add("{MD5}$1$", "x", "x@y")
	f.Fuzz(func(t *testing.T, stored, password, user string) {
		if !cheapToVerify(stored) {
			t.Skip()
		}
		verr := Validate(stored)
		ok, err := Verify(stored, password, user)
		if err != nil {
			if ok {
				t.Fatalf("Verify returned true with error %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownScheme) {
				t.Fatalf("Verify error %v wraps neither sentinel", err)
			}
		}
		if verr != nil {
			if err == nil {
				t.Fatalf("Validate failed (%v) but Verify did not", verr)
			}
			if !errors.Is(verr, ErrMalformed) && !errors.Is(verr, ErrUnknownScheme) {
				t.Fatalf("Validate error %v wraps neither sentinel", verr)
			}
		} else if err != nil && user != "" {
			t.Fatalf("Validate accepted the value but Verify failed: %v", err)
		}
		if h, perr := Parse(stored); perr == nil {
			if _, lok := Lookup(h.Scheme); !lok {
				t.Fatalf("Parse gave scheme %s that Lookup does not know", h.Scheme)
			}
		}
		_, _ = CRAMMD5Digest(stored, []byte(password))
		_, _ = PlainSecret(stored)
		_, _ = ParseSCRAM(stored)
		_ = NeedsRehash(stored, "ARGON2ID", Params{})
	})
}
