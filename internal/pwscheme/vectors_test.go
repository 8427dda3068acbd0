package pwscheme

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// vector is one line of testdata/vectors.tsv.
type vector struct {
	line      int
	column    string // SCHEME column as written, with any note
	scheme    string // canonical scheme expected from Parse
	encoding  string // expected Hash.Encoding
	plaintext string
	stored    string
}

// vectorUser is the user name of the DIGEST-MD5 vectors.
const vectorUser = "alice@example.com"

// loadVectors reads testdata/vectors.tsv.
func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.tsv")
	if err != nil {
		t.Fatalf("open vectors: %v", err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3 {
			t.Fatalf("vectors.tsv:%d: %d columns, want 3", n, len(cols))
		}
		name, _, _ := strings.Cut(cols[0], "(")
		name = strings.TrimSpace(name)
		base, enc, _ := strings.Cut(name, ".")
		switch enc {
		case "B64", "BASE64":
			enc = encB64
		case "HEX":
			enc = encHex
		}
		out = append(out, vector{line: n, column: cols[0], scheme: base, encoding: enc,
			plaintext: cols[1], stored: cols[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	return out
}

func TestVectorFileComplete(t *testing.T) {
	vs := loadVectors(t)
	// 52 doveadm vectors, 5 SASLprep vectors, 8 Go-generated, 1 yescrypt.
	if len(vs) != 66 {
		t.Fatalf("got %d vectors, want 66", len(vs))
	}
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.scheme] = true
	}
	for _, s := range Schemes() {
		if s.Verify && s.Name != "PLAIN-TRUNC" && s.Name != "PLAIN-MD4" && !seen[s.Name] {
			// PLAIN-TRUNC and PLAIN-MD4 have no doveadm vector; they are
			// covered by TestAliasesAndEncodings and TestPlainTrunc.
			t.Errorf("no vector for verifiable scheme %s", s.Name)
		}
	}
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.column+"/"+v.plaintext, func(t *testing.T) {
			h, err := Parse(v.stored)
			if err != nil {
				t.Fatalf("line %d: Parse: %v", v.line, err)
			}
			if h.Scheme != v.scheme || h.Encoding != v.encoding {
				t.Errorf("line %d: Parse = %s/%q, want %s/%q", v.line, h.Scheme, h.Encoding, v.scheme, v.encoding)
			}
			if err := Validate(v.stored); err != nil {
				t.Errorf("line %d: Validate: %v", v.line, err)
			}
			ok, err := Verify(v.stored, v.plaintext, vectorUser)
			if err != nil || !ok {
				t.Errorf("line %d: Verify(right password) = %v, %v; want true", v.line, ok, err)
			}
			ok, err = Verify(v.stored, v.plaintext+"x", vectorUser)
			if err != nil || ok {
				t.Errorf("line %d: Verify(password+x) = %v, %v; want false", v.line, ok, err)
			}
		})
	}
}

func TestVectorsReverseDirection(t *testing.T) {
	// Values whose generation is deterministic must be reproduced byte for
	// byte from the vectors' plaintexts.
	for _, v := range loadVectors(t) {
		var p Params
		switch v.scheme {
		case "CRAM-MD5", "PLAIN":
		case "DIGEST-MD5":
			p.User = vectorUser
		default:
			continue
		}
		if v.encoding != "" {
			continue
		}
		got, err := Generate(v.scheme, v.plaintext, p)
		if err != nil {
			t.Fatalf("line %d: Generate(%s): %v", v.line, v.scheme, err)
		}
		if got != v.stored {
			t.Errorf("line %d: Generate(%s) = %s, want %s", v.line, v.scheme, got, v.stored)
		}
	}
}

func TestDigestMD5NeedsUser(t *testing.T) {
	const stored = "{DIGEST-MD5}586259300d78ce471a600dda94f1ad20"
	if ok, err := Verify(stored, "Tr0ub4dor&3", ""); ok || err == nil {
		t.Errorf("Verify without user = %v, %v; want false and an error", ok, err)
	}
	if ok, err := Verify(stored, "Tr0ub4dor&3", "bob@example.com"); ok || err != nil {
		t.Errorf("Verify with another user = %v, %v; want false, nil", ok, err)
	}
	if _, err := Generate("DIGEST-MD5", "pw", Params{}); err == nil {
		t.Error("Generate DIGEST-MD5 without Params.User succeeded")
	}
}

func TestMD5AliasByValue(t *testing.T) {
	for _, tc := range []struct{ stored, scheme string }{
		{"{MD5}$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.", "MD5-CRYPT"},
		{"{MD5}4ece57a61323b52ccffdbef021956754", "PLAIN-MD5"},
		{"{md5}Ts5XphMjtSzP/b7wIZVnVA==", "PLAIN-MD5"},
	} {
		h, err := Parse(tc.stored)
		if err != nil || h.Scheme != tc.scheme {
			t.Errorf("Parse(%s) = %v, %v; want %s", tc.stored, h.Scheme, err, tc.scheme)
		}
		if ok, err := Verify(tc.stored, "Tr0ub4dor&3", ""); !ok || err != nil {
			t.Errorf("Verify(%s) = %v, %v; want true", tc.stored, ok, err)
		}
	}
}

func TestAliasesAndEncodings(t *testing.T) {
	for _, tc := range []struct{ stored, scheme, enc string }{
		{"{CLEAR}Tr0ub4dor&3", "PLAIN", ""},
		{"{cleartext}Tr0ub4dor&3", "PLAIN", ""},
		{"{PLAIN.HEX}547230756234646f722633", "PLAIN", encHex},
		{"{plain.base64}VHIwdWI0ZG9yJjM=", "PLAIN", encB64},
		{"{SHA1}h0Vy56WuaklGamrFeLmK26eMaqY=", "SHA", ""},
		{"{SHA.HEX}874572e7a5ae6a49466a6ac578b98adba78c6aa6", "SHA", encHex},
		{"{SHA}874572e7a5ae6a49466a6ac578b98adba78c6aa6", "SHA", ""},
		{"{HMAC-MD5}c0a49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232", "CRAM-MD5", ""},
		{"{PLAIN-MD5}Ts5XphMjtSzP/b7wIZVnVA==", "PLAIN-MD5", ""},
		{"{LDAP-MD5}4ece57a61323b52ccffdbef021956754", "LDAP-MD5", ""},
		{"{PLAIN-TRUNC}20-Tr0ub4dor&3", "PLAIN-TRUNC", ""},
		{"{ssha512}XAtKHLj2jWwFi0+OhHLJZhTUGCI8sa8HgUvWEytwzdYemBoJNUZWMxs8HE63xe7lUjiKQCQydwP3BNlQZFZS0/zvj+I=", "SSHA512", ""},
		{"{CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31", "CRYPT", ""},
		{"{CRYPT}$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.", "CRYPT", ""},
		{"{CRYPT}$5$SCVPYq9Sqbq88rQW$mENZGGvOmAVMfd8NgL2mfYIdtGJEsNKVh2FTlL6GfXD", "CRYPT", ""},
	} {
		h, err := Parse(tc.stored)
		if err != nil || h.Scheme != tc.scheme || h.Encoding != tc.enc {
			t.Errorf("Parse(%s) = %+v, %v; want %s/%q", tc.stored, h, err, tc.scheme, tc.enc)
			continue
		}
		if h.String() != "{"+tc.scheme+encSuffix(tc.enc)+"}"+h.Value {
			t.Errorf("Hash.String() = %s", h.String())
		}
		if ok, err := Verify(tc.stored, "Tr0ub4dor&3", ""); !ok || err != nil {
			t.Errorf("Verify(%s) = %v, %v; want true", tc.stored, ok, err)
		}
		if ok, err := Verify(tc.stored, "Tr0ub4dor&", ""); ok || err != nil {
			t.Errorf("Verify(%s, shorter) = %v, %v; want false", tc.stored, ok, err)
		}
	}
}

func encSuffix(enc string) string {
	if enc == "" {
		return ""
	}
	return "." + enc
}

func TestPlainTrunc(t *testing.T) {
	// A stored password exactly as long as the truncation length may have
	// been truncated: longer passwords with that prefix match.
	const stored = "{PLAIN-TRUNC}8-Tr0ub4do"
	for pw, want := range map[string]bool{"Tr0ub4do": true, "Tr0ub4dor&3": true, "Tr0ub4d": false, "Xr0ub4dor&3": false} {
		if ok, err := Verify(stored, pw, ""); ok != want || err != nil {
			t.Errorf("Verify(%s, %q) = %v, %v; want %v", stored, pw, ok, err, want)
		}
	}
	if _, ok := PlainSecret(stored); ok {
		t.Error("PlainSecret of a possibly truncated PLAIN-TRUNC value reported ok")
	}
	if s, ok := PlainSecret("{PLAIN-TRUNC}20-Tr0ub4dor&3"); !ok || s != "Tr0ub4dor&3" {
		t.Errorf("PlainSecret(PLAIN-TRUNC full) = %q, %v", s, ok)
	}
}

func TestPlainSecret(t *testing.T) {
	for stored, want := range map[string]string{
		"{PLAIN}Tr0ub4dor&3":                "Tr0ub4dor&3",
		"{CLEAR}a b:c":                      "a b:c",
		"{PLAIN.B64}VHIwdWI0ZG9yJjM=":       "Tr0ub4dor&3",
		"{PLAIN.HEX}547230756234646f722633": "Tr0ub4dor&3",
	} {
		if got, ok := PlainSecret(stored); !ok || got != want {
			t.Errorf("PlainSecret(%s) = %q, %v; want %q", stored, got, ok, want)
		}
	}
	for _, stored := range []string{"{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=", "{PLAIN.B64}!!", "PLAIN", "{PLAIN}",
		"{CRAM-MD5}c0a49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232"} {
		if got, ok := PlainSecret(stored); ok || got != "" {
			t.Errorf("PlainSecret(%s) = %q, %v; want not ok", stored, got, ok)
		}
	}
}

func TestPlainMD4RFC1320(t *testing.T) {
	// RFC 1320 appendix A.5: MD4("abc").
	const stored = "{PLAIN-MD4}a448017aaf21d8525fc10ae87aa6729d"
	if ok, err := Verify(stored, "abc", ""); !ok || err != nil {
		t.Errorf("Verify(abc) = %v, %v; want true", ok, err)
	}
	if ok, err := Verify(stored, "abcx", ""); ok || err != nil {
		t.Errorf("Verify(abcx) = %v, %v; want false", ok, err)
	}
}
