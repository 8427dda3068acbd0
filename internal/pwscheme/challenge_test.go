package pwscheme

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestAPOPDigest(t *testing.T) {
	for _, tc := range []struct{ ts, secret, want string }{
		// RFC 1939 section 7 example.
		{"<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", "c4c9334bac560ecc979e58001b3e22fb"},
		{"<4711.1700000000@pop.example.com>", "Tr0ub4dor&3", "8c8523448d5766f0d4acea75f5b0bc80"},
	} {
		if got := APOPDigest(tc.ts, tc.secret); got != tc.want {
			t.Errorf("APOPDigest(%s, %s) = %s, want %s", tc.ts, tc.secret, got, tc.want)
		}
	}
}

func TestCRAMMD5DigestVectors(t *testing.T) {
	for _, tc := range []struct{ stored, challenge, want string }{
		// RFC 2195 example, from the plaintext and from the stored context.
		{"{PLAIN}tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3890"},
		{"{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b", "<1896.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3890"},
		{"{PLAIN}Tr0ub4dor&3", "<1896.697170952@postoffice.example.net>", "4881950e0ed3e0656c143ec3f0336f64"},
		{"{CRAM-MD5}c0a49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232", "<1896.697170952@postoffice.example.net>", "4881950e0ed3e0656c143ec3f0336f64"},
		{"{PLAIN.B64}VHIwdWI0ZG9yJjM=", "<1896.697170952@postoffice.example.net>", "4881950e0ed3e0656c143ec3f0336f64"},
		{"{HMAC-MD5}c0a49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232", "<1896.697170952@postoffice.example.net>", "4881950e0ed3e0656c143ec3f0336f64"},
	} {
		got, err := CRAMMD5Digest(tc.stored, []byte(tc.challenge))
		if err != nil || got != tc.want {
			t.Errorf("CRAMMD5Digest(%s) = %s, %v; want %s", tc.stored, got, err, tc.want)
		}
	}
}

func TestCRAMMD5ContextMatchesHMAC(t *testing.T) {
	// The stored context must give the same response as HMAC-MD5 keyed
	// with the password, including keys longer than one MD5 block (which
	// HMAC hashes first) and non-ASCII bytes.
	passwords := []string{"a", "Tr0ub4dor&3", "pässwörd€", "Ｐａｓｓ１",
		strings.Repeat("k", 64), strings.Repeat("long key ", 20)}
	challenges := []string{"", "<1.2@x>", strings.Repeat("c", 200)}
	for _, pw := range passwords {
		stored, err := Generate("CRAM-MD5", pw, Params{})
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		for _, ch := range challenges {
			mac := hmac.New(md5.New, []byte(pw))
			mac.Write([]byte(ch))
			want := hex.EncodeToString(mac.Sum(nil))
			got, err := CRAMMD5Digest(stored, []byte(ch))
			if err != nil || got != want {
				t.Errorf("CRAMMD5Digest(context of %q, %q) = %s, %v; want %s", pw, ch, got, err, want)
			}
		}
	}
}

func TestCRAMMD5DigestRefusesOtherSchemes(t *testing.T) {
	for _, stored := range []string{
		"{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31",
		"{SCRAM-SHA-256}4096,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg=",
		"{PLAIN-TRUNC}8-Tr0ub4do",
	} {
		if _, err := CRAMMD5Digest(stored, []byte("<x>")); !errors.Is(err, ErrUnknownScheme) {
			t.Errorf("CRAMMD5Digest(%s) error = %v, want ErrUnknownScheme", stored[:16], err)
		}
	}
	for _, stored := range []string{"{CRAM-MD5}abcd", "{PLAIN.B64}***", "nobraces"} {
		if _, err := CRAMMD5Digest(stored, []byte("<x>")); !errors.Is(err, ErrMalformed) {
			t.Errorf("CRAMMD5Digest(%s) error = %v, want ErrMalformed", stored, err)
		}
	}
}
