package importfmt

import (
	"bytes"
	"strings"
	"testing"
)

// checkResult asserts the invariants every parser result keeps: lines are
// 1-based and increasing, every record has a user and exactly one of Hash
// and Password, hashes carry a {SCHEME} prefix, and no error echoes a
// credential of a good record.
func checkResult(t *testing.T, res *Result) {
	t.Helper()
	last := 0
	for _, r := range res.Records {
		if r.Line < 1 || r.Line <= last {
			t.Fatalf("record line %d after %d", r.Line, last)
		}
		last = r.Line
		if r.User == "" || checkUser(r.User) != "" {
			t.Fatalf("bad user %q on line %d", r.User, r.Line)
		}
		if (r.Hash == "") == (r.Password == "") {
			t.Fatalf("line %d: hash %q, password %q", r.Line, r.Hash, r.Password)
		}
		if r.Hash != "" && SchemeOf(r.Hash) == "" {
			t.Fatalf("line %d: hash without scheme", r.Line)
		}
		if hasControl(r.Hash) || hasControl(r.Password) || hasControl(r.DisplayName) {
			t.Fatalf("line %d: control character kept", r.Line)
		}
	}
	for _, e := range res.Errors {
		if e.Line < 1 {
			t.Fatalf("error line %d", e.Line)
		}
		for _, r := range res.Records {
			// The user field is named as it was read; the message must
			// not carry a credential.
			if len(r.Hash) > 8 && strings.Contains(e.Msg, r.Hash) {
				t.Fatalf("error %q echoes a hash", e)
			}
		}
	}
}

// toExport turns parsed records into export records (hash rows only).
func toExport(recs []Record) []ExportRecord {
	var out []ExportRecord
	for _, r := range recs {
		if r.Hash == "" {
			continue
		}
		out = append(out, ExportRecord{User: r.User, Hash: r.Hash, DisplayName: r.DisplayName, Disabled: r.Disabled, Maildrop: r.Maildrop})
	}
	return out
}

var passwdSeeds = []string{
	"alice@example.com:{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31::::::\n",
	"bob:{PLAIN}Tr0ub4dor&3:1000:1000:Bob:/home/bob:/bin/false:userdb_mail=maildir:~/Maildir nologin\n",
	"# comment\n\ncarol:$2y$05$o1DLoR1qbkB9lVa9llaiHuPihkSxSB00Rinh9LKCK41bV6w1MRknC\r\n",
	"dave:{SCRAM-SHA-256}4096,XGtFbIrxkB3XFXrsSjmfRg==,ZsZotf4Mz0sgLVDKUnUhp2HxbsbwVezxrxc1Awz+EHE=,qMxxyFBZlj1eCl+o4iemxzBNoEcxCkPKYg4BcWAlwZg=",
	"erin::::::::nopassword\nfrank\n:x\n$apr1$:$apr1$x$y\n",
	"g:{PLAIN}\x00\n",
}

func FuzzDovecotPasswd(f *testing.F) {
	for _, s := range passwdSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ParseDovecotPasswd(strings.NewReader(in), Options{})
		if err != nil {
			t.Fatalf("read from a string failed: %v", err)
		}
		checkResult(t, res)
		// Whatever can be written reads back unchanged.
		for _, r := range toExport(res.Records) {
			var b bytes.Buffer
			if err := WriteDovecotPasswd(&b, []ExportRecord{r}); err != nil {
				continue
			}
			back, err := ParseDovecotPasswd(&b, Options{})
			if err != nil || len(back.Errors) != 0 || len(back.Records) != 1 {
				t.Fatalf("write %+v -> %q -> %+v, %v", r, b.String(), back, err)
			}
			got := back.Records[0]
			if got.User != r.User || got.Disabled != r.Disabled || got.Maildrop != r.Maildrop {
				t.Fatalf("round trip changed %+v into %+v", r, got)
			}
			if got.Hash != r.Hash && !strings.HasPrefix(got.Hash, "{PLAIN.B64}") {
				t.Fatalf("round trip changed hash %q into %q", r.Hash, got.Hash)
			}
		}
	})
}

func FuzzHtpasswd(f *testing.F) {
	for _, s := range passwdSeeds {
		f.Add(s)
	}
	f.Add("alice:$apr1$abc$def\nbob:{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=\ncarol:abJnggxhB/yWI\n")
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ParseHtpasswd(strings.NewReader(in), Options{})
		if err != nil {
			t.Fatalf("read from a string failed: %v", err)
		}
		checkResult(t, res)
		for _, r := range res.Records {
			if r.Password != "" || r.Disabled || r.Maildrop != "" {
				t.Fatalf("htpasswd record with extra fields: %+v", r)
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add("user,hash\nalice@example.com,{PLAIN}x\n")
	f.Add("user,name,password,disabled,maildrop\nbob,\"B, ob\",\"p\"\"w\",yes,/srv/bob\n")
	f.Add("\xef\xbb\xbfemail,hash,extra\n# c\ncarol,$6$s$h,1\ndave,,\n\"x\ny\",{PLAIN}a,\n")
	f.Add("user,hash\n\"unterminated,{PLAIN}x\n")
	f.Add("user,hash,password\ne,{PLAIN}x,y\nf,bare,\n")
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ParseCSV(strings.NewReader(in), Options{})
		if err != nil {
			return // unusable header: reported as a whole-file error
		}
		checkResult(t, res)
		recs := toExport(res.Records)
		var b bytes.Buffer
		if err := WriteCSV(&b, recs, true); err != nil {
			t.Fatalf("WriteCSV: %v", err)
		}
		back, err := ParseCSV(&b, Options{})
		if err != nil || len(back.Errors) != 0 || len(back.Records) != len(recs) {
			t.Fatalf("read back %q: %+v %v", b.String(), back, err)
		}
		for i, r := range back.Records {
			w := recs[i]
			if r.User != w.User || r.Hash != w.Hash || r.DisplayName != w.DisplayName || r.Disabled != w.Disabled || r.Maildrop != w.Maildrop {
				t.Fatalf("round trip changed %+v into %+v", w, r)
			}
		}
	})
}
