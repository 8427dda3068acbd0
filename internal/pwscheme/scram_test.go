package pwscheme

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// scramLogin runs a full SCRAM exchange between an xdg-go/scram client and
// a server that holds stored, and reports whether both sides succeeded.
func scramLogin(t *testing.T, stored string, client *scram.Client) bool {
	t.Helper()
	s, err := ParseSCRAM(stored)
	if err != nil {
		t.Fatalf("ParseSCRAM: %v", err)
	}
	gen := scram.SHA256
	if s.Hash == "SHA-1" {
		gen = scram.SHA1
	}
	srv, err := gen.NewServer(func(string) (scram.StoredCredentials, error) { return s.StoredCredentials(), nil })
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	cc, sc := client.NewConversation(), srv.NewConversation()
	msg := ""
	for i := 0; i < 4 && !cc.Done(); i++ {
		out, err := cc.Step(msg)
		if err != nil {
			return false
		}
		if sc.Done() {
			break
		}
		msg, err = sc.Step(out)
		if err != nil {
			return false
		}
	}
	return cc.Valid() && sc.Valid()
}

func newClient(t *testing.T, gen scram.HashGeneratorFcn, password string, prep bool) *scram.Client {
	t.Helper()
	var c *scram.Client
	var err error
	if prep {
		c, err = gen.NewClient("alice", password, "")
	} else {
		c, err = gen.NewClientUnprepped("alice", password, "")
	}
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

const (
	dovecotFullwidth = "{SCRAM-SHA-256}4096,I/I96/fjMx2QayPH4mJq4w==,Uvcc1evJAQFowtcwPxEYKP4rjVUW58dfdF8PY+wqvO0=,oVpXevOBbYzqx57cV1KLyDQIsRKH+FtUBZE4Lk+Wkps="
	dovecotPass1     = "{SCRAM-SHA-256}4096,I1vswXDBZztZkaEp22U98g==,pHzVJ24pcuw5W3cDBSGzXi6KRj5jwROu7zFbpe46cKY=,kuugxWbI5wVV0hvUdmig+ZTIr7h2HzTu46hTxOalhSQ="
	fullwidth        = "Ｐａｓｓ１"
)

func TestSCRAMExchangeWithVectors(t *testing.T) {
	for _, tc := range []struct {
		stored   string
		gen      scram.HashGeneratorFcn
		password string
	}{
		{"{SCRAM-SHA-1}4096,fU1PGq0ANDo6M1CSLrMjIg==,Nl4RicMnxlfhl7J48YA1BsqIhCY=,s1886SfywE6/8MjP4ksjzEk/674=", scram.SHA1, "Tr0ub4dor&3"},
		{"{SCRAM-SHA-256}4096,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg=", scram.SHA256, "Tr0ub4dor&3"},
		{"{SCRAM-SHA-256}4096,6bVvtRxQh5y2OLu/Uj87+w==,9wS5evo054IRc+p/c6lmx0CmjCArUHkVtIZAb0pOQR0=,1ygABUsEAdd/Nou4n8kzEngU/bCYpp6dUV8Lijf0zM0=", scram.SHA256, "pässwörd€"},
		// An RFC client SASLprep's the fullwidth password to "Pass1" and
		// so logs in against Dovecot's verifier of "Pass1".
		{dovecotPass1, scram.SHA256, fullwidth},
	} {
		if !scramLogin(t, tc.stored, newClient(t, tc.gen, tc.password, true)) {
			t.Errorf("SCRAM login with %q against %s failed", tc.password, tc.stored[:24])
		}
		if scramLogin(t, tc.stored, newClient(t, tc.gen, tc.password+"x", true)) {
			t.Errorf("SCRAM login with %q+x succeeded", tc.password)
		}
	}
}

func TestSCRAMSASLprepDecision(t *testing.T) {
	// Generated verifiers are SASLprep'd: the fullwidth password and
	// "Pass1" are the same password, through SCRAM and through Verify.
	gen, err := Generate("SCRAM-SHA-256", fullwidth, Params{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	for _, pw := range []string{"Pass1", fullwidth} {
		if !scramLogin(t, gen, newClient(t, scram.SHA256, pw, true)) {
			t.Errorf("SCRAM login with %q against the generated verifier failed", pw)
		}
		if ok, err := Verify(gen, pw, ""); !ok || err != nil {
			t.Errorf("Verify(generated, %q) = %v, %v; want true", pw, ok, err)
		}
	}
	// Dovecot's verifier of the fullwidth password is unprepped: an RFC
	// client cannot log in with it, an unprepped one can, and Verify
	// (USER/PASS) accepts the password as typed.
	if scramLogin(t, dovecotFullwidth, newClient(t, scram.SHA256, fullwidth, true)) {
		t.Error("RFC client logged in against the unprepped Dovecot verifier; the documented mismatch is gone")
	}
	if !scramLogin(t, dovecotFullwidth, newClient(t, scram.SHA256, fullwidth, false)) {
		t.Error("unprepped client could not log in against the Dovecot verifier")
	}
	if ok, err := Verify(dovecotFullwidth, fullwidth, ""); !ok || err != nil {
		t.Errorf("Verify(Dovecot fullwidth verifier, fullwidth) = %v, %v; want true", ok, err)
	}
	if ok, err := Verify(dovecotFullwidth, "Pass1", ""); ok || err != nil {
		t.Errorf("Verify(Dovecot fullwidth verifier, Pass1) = %v, %v; want false", ok, err)
	}
}

func TestDeriveSCRAM(t *testing.T) {
	s, err := ParseSCRAM(dovecotPass1)
	if err != nil {
		t.Fatalf("ParseSCRAM: %v", err)
	}
	if s.Hash != "SHA-256" || s.Iter != 4096 || len(s.Salt) != 16 || len(s.StoredKey) != 32 || len(s.ServerKey) != 32 {
		t.Fatalf("ParseSCRAM = %+v", s)
	}
	if s.String() != dovecotPass1 {
		t.Errorf("String() = %s, want %s", s.String(), dovecotPass1)
	}
	for _, pw := range []string{"Pass1", fullwidth} {
		d, err := DeriveSCRAM("SHA-256", pw, s.Iter, s.Salt)
		if err != nil {
			t.Fatalf("DeriveSCRAM(%q): %v", pw, err)
		}
		if d.String() != dovecotPass1 {
			t.Errorf("DeriveSCRAM(%q) = %s, want %s", pw, d.String(), dovecotPass1)
		}
	}
	sha1, err := DeriveSCRAM("SHA-1", "Tr0ub4dor&3", 4096, []byte("0123456789abcdef"))
	if err != nil || !strings.HasPrefix(sha1.String(), "{SCRAM-SHA-1}4096,MDEyMzQ1Njc4OWFiY2RlZg==,") || len(sha1.StoredKey) != 20 {
		t.Errorf("DeriveSCRAM SHA-1 = %v, %v", sha1, err)
	}
	// SASLprep refuses unassigned code points (emoji) and control
	// characters; the error must not contain the password.
	for _, pw := range []string{"pw\U0001F600", "a\u0007b"} {
		_, err := DeriveSCRAM("SHA-256", pw, 4096, []byte("salt"))
		if !errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), pw) {
			t.Errorf("DeriveSCRAM(refused password) error = %v, want ErrMalformed without the password", err)
		}
		if _, err := Generate("SCRAM-SHA-256", pw, Params{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("Generate(SCRAM, refused password) error = %v, want ErrMalformed", err)
		}
	}
	for _, tc := range []struct {
		hash string
		iter int
		salt []byte
		want error
	}{
		{"SHA-512", 4096, []byte("s"), ErrUnknownScheme},
		{"SHA-256", 0, []byte("s"), ErrMalformed},
		{"SHA-256", -5, []byte("s"), ErrMalformed},
		{"SHA-256", 4096, nil, ErrMalformed},
	} {
		if _, err := DeriveSCRAM(tc.hash, "pw", tc.iter, tc.salt); !errors.Is(err, tc.want) {
			t.Errorf("DeriveSCRAM(%s, %d, %q) error = %v, want %v", tc.hash, tc.iter, tc.salt, err, tc.want)
		}
	}
	// DeriveSCRAM must not keep the caller's salt slice.
	salt := []byte("0123456789abcdef")
	d, err := DeriveSCRAM("SHA-256", "pw", 1, salt)
	if err != nil {
		t.Fatal(err)
	}
	salt[0] = 'X'
	if !bytes.Equal(d.Salt, []byte("0123456789abcdef")) {
		t.Error("DeriveSCRAM aliases the salt slice")
	}
}

func TestParseSCRAMRejects(t *testing.T) {
	for _, tc := range []struct {
		stored string
		want   error
	}{
		{"{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=", ErrUnknownScheme},
		{"{SCRAM-SHA-256}4096,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=", ErrMalformed},
		{"{SCRAM-SHA-256}0,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg=", ErrMalformed},
		{"{SCRAM-SHA-256}-1,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg=", ErrMalformed},
		// SHA-1 key lengths under SCRAM-SHA-256.
		{"{SCRAM-SHA-256}4096,fU1PGq0ANDo6M1CSLrMjIg==,Nl4RicMnxlfhl7J48YA1BsqIhCY=,s1886SfywE6/8MjP4ksjzEk/674=", ErrMalformed},
		{"{SCRAM-SHA-1}4096,,Nl4RicMnxlfhl7J48YA1BsqIhCY=,s1886SfywE6/8MjP4ksjzEk/674=", ErrMalformed},
	} {
		if _, err := ParseSCRAM(tc.stored); !errors.Is(err, tc.want) {
			t.Errorf("ParseSCRAM(%s) error = %v, want %v", tc.stored, err, tc.want)
		}
	}
}
