package importfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNormalizeHash(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"{SHA512-CRYPT}$6$abc$def", "{SHA512-CRYPT}$6$abc$def", nil},
		{"{sha512-crypt}$6$abc$def", "{SHA512-CRYPT}$6$abc$def", nil},
		{"{PLAIN.B64}VHIw", "{PLAIN.B64}VHIw", nil},
		{"{PLAIN}with space", "{PLAIN}with space", nil},
		{"$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.", "{MD5-CRYPT}$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.", nil},
		{"$2y$05$w4m5JTOoPDT7PYb3Y0AOk.pcvgLhOoeWwWkCm7gO4SdAXbQKaXAui", "{BLF-CRYPT}$2y$05$w4m5JTOoPDT7PYb3Y0AOk.pcvgLhOoeWwWkCm7gO4SdAXbQKaXAui", nil},
		{"$2a$10$abc", "{BLF-CRYPT}$2a$10$abc", nil},
		{"$2b$10$abc", "{BLF-CRYPT}$2b$10$abc", nil},
		{"$5$salt$hash", "{SHA256-CRYPT}$5$salt$hash", nil},
		{"$6$rounds=10000$salt$hash", "{SHA512-CRYPT}$6$rounds=10000$salt$hash", nil},
		{"$argon2id$v=19$m=65536,t=3,p=1$s$h", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$s$h", nil},
		{"$argon2i$v=19$m=32768,t=4,p=1$s$h", "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$s$h", nil},
		{"abJnggxhB/yWI", "{DES-CRYPT}abJnggxhB/yWI", nil},
		{"$y$j9T$salt$hash", "{CRYPT}$y$j9T$salt$hash", nil},
		{"$apr1$salt$hash", "", ErrUnsupportedHash},
		{"$gy$j9T$salt$hash", "", ErrUnsupportedHash},
		{"", "", ErrEmptyHash},
		{"{PLAIN}", "", ErrEmptyHash},
		{"{PLAIN", "", ErrBadSchemeName},
		{"{}x", "", ErrBadSchemeName},
		{"{PL AIN}x", "", ErrBadSchemeName},
		{"cleartext", "", ErrNoScheme},
		{"abJnggxhB/yW!", "", ErrNoScheme},
		{"{PLAIN}a\nb", "", ErrControlChar},
	}
	for _, tt := range tests {
		got, err := NormalizeHash(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("NormalizeHash(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && tt.in != "" && strings.Contains(err.Error(), tt.in) {
			t.Errorf("NormalizeHash(%q): error %q echoes the input", tt.in, err)
		}
	}
}

func TestNormalizeBareScheme(t *testing.T) {
	got, err := normalizeField("secret", Options{BareScheme: "plain"})
	if err != nil || got != "{PLAIN}secret" {
		t.Fatalf("got %q, %v", got, err)
	}
	// A recognised crypt string wins over the bare scheme.
	got, err = normalizeField("$1$a$b", Options{BareScheme: "PLAIN"})
	if err != nil || got != "{MD5-CRYPT}$1$a$b" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := normalizeField("secret", Options{BareScheme: "BAD NAME"}); !errors.Is(err, ErrBadSchemeName) {
		t.Fatalf("bad bare scheme: %v", err)
	}
}

func TestSchemeOf(t *testing.T) {
	for in, want := range map[string]string{
		"{plain}x": "PLAIN", "{SCRAM-SHA-256}4096,a,b,c": "SCRAM-SHA-256", "$1$x": "", "{x": "", "": "",
	} {
		if got := SchemeOf(in); got != want {
			t.Errorf("SchemeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDovecotPasswd(t *testing.T) {
	in := "# comment\n" +
		"\n" +
		"alice@example.com:{SHA512-CRYPT}$6$a$b::::::\n" +
		"bob@example.com:$2y$05$abc:1000:1000:Bob Builder:/home/bob:/bin/sh:userdb_mail=maildir:/srv/mail/bob:LAYOUT=fs nologin reason=gone\r\n" +
		"carol:{PLAIN}pass word\n" +
		":{PLAIN}x\n" +
		"dave@example.com\n" +
		"erin@example.com:::::::nopassword\n" +
		"frank@example.com:cleartext\n" +
		"gina@example.com:$apr1$x$y\n" +
		"hank@example.com:{PLAIN}ok" // no final newline
	res, err := ParseDovecotPasswd(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Line: 3, User: "alice@example.com", Hash: "{SHA512-CRYPT}$6$a$b"},
		{Line: 4, User: "bob@example.com", Hash: "{BLF-CRYPT}$2y$05$abc", DisplayName: "Bob Builder", Disabled: true, Maildrop: "/srv/mail/bob"},
		{Line: 5, User: "carol", Hash: "{PLAIN}pass word"},
		{Line: 11, User: "hank@example.com", Hash: "{PLAIN}ok"},
	}
	if !reflect.DeepEqual(res.Records, want) {
		t.Errorf("records:\n got %+v\nwant %+v", res.Records, want)
	}
	wantErr := []LineError{
		{Line: 6, Msg: "empty user name"},
		{Line: 7, Msg: "no ':' separator: expected user:password"},
		{Line: 8, User: "erin@example.com", Msg: "nopassword accounts are not supported"},
		{Line: 9, User: "frank@example.com", Msg: "password field has no {SCHEME} prefix and is not a recognised crypt string"},
		{Line: 10, User: "gina@example.com", Msg: "Apache APR1-MD5 hashes are not supported"},
	}
	if len(res.Errors) != len(wantErr) {
		t.Fatalf("errors: got %d %v, want %d", len(res.Errors), res.Errors, len(wantErr))
	}
	for i, e := range res.Errors {
		if *e != wantErr[i] {
			t.Errorf("error %d: got %+v, want %+v", i, *e, wantErr[i])
		}
	}
	if s := res.Errors[3].Error(); strings.Contains(s, "cleartext") {
		t.Errorf("error %q echoes the password", s)
	}
}

func TestParseTooLongLine(t *testing.T) {
	in := "a@b:{PLAIN}x\n" + "c@d:{PLAIN}" + strings.Repeat("y", MaxLineBytes+10) + "\n" + "e@f:{PLAIN}z\n"
	for _, format := range []string{FormatDovecotPasswd, FormatHtpasswd} {
		res, err := Parse(format, strings.NewReader(in), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 2 || res.Records[1].Line != 3 || res.Records[1].User != "e@f" {
			t.Errorf("%s: records %+v", format, res.Records)
		}
		if len(res.Errors) != 1 || res.Errors[0].Line != 2 {
			t.Errorf("%s: errors %v", format, res.Errors)
		}
	}
}

func TestParseHtpasswd(t *testing.T) {
	in := "alice:$2y$05$o1DLoR1qbkB9lVa9llaiHuPihkSxSB00Rinh9LKCK41bV6w1MRknC\n" +
		"bob:{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=\n" +
		"carol:$apr1$abc$def\n" +
		"dave:abJnggxhB/yWI\n" +
		"erin\n" +
		"frank:$6$s$h\n"
	res, err := ParseHtpasswd(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, r := range res.Records {
		users = append(users, r.User+"="+SchemeOf(r.Hash))
	}
	if got, want := strings.Join(users, ","), "alice=BLF-CRYPT,bob=SHA,dave=DES-CRYPT,frank=SHA512-CRYPT"; got != want {
		t.Errorf("records %s, want %s", got, want)
	}
	if len(res.Errors) != 2 || res.Errors[0].Line != 3 || res.Errors[1].Line != 5 {
		t.Errorf("errors %v", res.Errors)
	}
}

func TestParseCSV(t *testing.T) {
	in := "\xef\xbb\xbfUser,Name,hash,password,disabled,maildrop,extra\n" +
		"alice@example.com,Alice,{SHA512-CRYPT}$6$a$b,,false,,x\n" +
		"# a comment\n" +
		"bob@example.com,\"Builder, Bob\",,\"pass,word\",yes,/srv/bob,\n" +
		"carol@example.com,,$1$s$h,,,,\n" +
		"dave@example.com,,,,,,\n" +
		"erin@example.com,,{PLAIN}x,y,,,\n" +
		"frank@example.com,,{PLAIN}x,,maybe,,\n" +
		"gina@example.com,too,few\n" +
		"\"multi\nline\",,{PLAIN}x,,,,\n" +
		"hank@example.com,,{PLAIN}x,,,,\n"
	res, err := ParseCSV(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Line: 2, User: "alice@example.com", Hash: "{SHA512-CRYPT}$6$a$b", DisplayName: "Alice"},
		{Line: 4, User: "bob@example.com", Password: "pass,word", DisplayName: "Builder, Bob", Disabled: true, Maildrop: "/srv/bob"},
		{Line: 5, User: "carol@example.com", Hash: "{MD5-CRYPT}$1$s$h"},
		{Line: 12, User: "hank@example.com", Hash: "{PLAIN}x"},
	}
	if !reflect.DeepEqual(res.Records, want) {
		t.Errorf("records:\n got %+v\nwant %+v", res.Records, want)
	}
	var lines []int
	for _, e := range res.Errors {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{6, 7, 8, 9, 10}) {
		t.Errorf("error lines %v (%v)", lines, res.Errors)
	}
	if !reflect.DeepEqual(res.IgnoredColumns, []string{"extra"}) {
		t.Errorf("ignored columns %v", res.IgnoredColumns)
	}
}

func TestParseCSVHeader(t *testing.T) {
	for _, in := range []string{"", "name,hash\nx,y\n", "user,name\nx,y\n", "user,hash,login\n", "\"bad\n"} {
		if _, err := ParseCSV(strings.NewReader(in), Options{}); !errors.Is(err, ErrBadHeader) {
			t.Errorf("ParseCSV(%q) = %v, want ErrBadHeader", in, err)
		}
	}
}

func TestParseUnknownFormat(t *testing.T) {
	if _, err := Parse("vpopmail", strings.NewReader(""), Options{}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("got %v", err)
	}
}

func TestPreferredHash(t *testing.T) {
	creds := []string{"{PLAIN}pw", "{SCRAM-SHA-256}4096,a,b,c", "{CRAM-MD5}00", "{ARGON2ID}$argon2id$x"}
	if got := PreferredHash(creds); got != "{ARGON2ID}$argon2id$x" {
		t.Errorf("got %q", got)
	}
	if got := PreferredHash(creds, "plain"); got != "{PLAIN}pw" {
		t.Errorf("prefer plain: got %q", got)
	}
	if got := PreferredHash([]string{"{ZZZ}1", "{CRAM-MD5}00"}); got != "{CRAM-MD5}00" {
		t.Errorf("unknown last: got %q", got)
	}
	if got := PreferredHash(nil); got != "" {
		t.Errorf("empty: got %q", got)
	}
}

func TestWriteDovecotPasswd(t *testing.T) {
	recs := []ExportRecord{
		{User: "alice@example.com", Hash: "{SHA512-CRYPT}$6$a$b"},
		{User: "bob@example.com", Hash: "{PLAIN}a:b", DisplayName: "Bob: the builder", Disabled: true, Maildrop: "/srv/bob"},
	}
	var b bytes.Buffer
	if err := WriteDovecotPasswd(&b, recs); err != nil {
		t.Fatal(err)
	}
	want := "alice@example.com:{SHA512-CRYPT}$6$a$b::::::\n" +
		"bob@example.com:{PLAIN.B64}YTpi:::Bob  the builder:::nologin userdb_mail=maildir:/srv/bob\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	res, err := ParseDovecotPasswd(&b, Options{})
	if err != nil || len(res.Errors) != 0 || len(res.Records) != 2 {
		t.Fatalf("read back: %+v %v", res, err)
	}
	if r := res.Records[1]; !r.Disabled || r.Maildrop != "/srv/bob" || r.Hash != "{PLAIN.B64}YTpi" {
		t.Errorf("read back %+v", r)
	}
	for _, bad := range []ExportRecord{
		{User: "x@y"},
		{User: "a:b", Hash: "{PLAIN}x"},
		{User: "x@y", Hash: "{SHA}a:b"},
		{User: "x@y", Hash: "{PLAIN}x", Maildrop: "/a b"},
	} {
		if err := WriteDovecotPasswd(&b, []ExportRecord{bad}); err == nil {
			t.Errorf("WriteDovecotPasswd(%+v) succeeded", bad)
		} else if strings.Contains(err.Error(), "{PLAIN}x") {
			t.Errorf("error %q echoes the credential", err)
		}
	}
}

func TestWriteCSVReadBack(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	recs := []ExportRecord{
		{User: "alice@example.com", DisplayName: "Alice, A.", Created: ts, Mechs: []string{"plain", "scram-sha-256"},
			Schemes: []string{"ARGON2ID", "SCRAM-SHA-256"}, Hash: "{ARGON2ID}$argon2id$x",
			Credentials: []string{"{ARGON2ID}$argon2id$x", "{SCRAM-SHA-256}4096,a,b,c"}},
		{User: "bob@example.com", Disabled: true, Maildrop: "/srv/bob", Hash: "{PLAIN}p\"q"},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, recs, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "argon2id$x") || strings.Contains(b.String(), "hash") {
		t.Errorf("hashes written without includeHashes:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "2024-05-06T07:08:09Z") {
		t.Errorf("created time missing:\n%s", b.String())
	}
	b.Reset()
	if err := WriteCSV(&b, recs, true); err != nil {
		t.Fatal(err)
	}
	res, err := ParseCSV(&b, Options{})
	if err != nil || len(res.Errors) != 0 {
		t.Fatalf("read back: %v %v", err, res.Errors)
	}
	want := []Record{
		{Line: 2, User: "alice@example.com", DisplayName: "Alice, A.", Hash: "{ARGON2ID}$argon2id$x"},
		{Line: 3, User: "bob@example.com", Disabled: true, Maildrop: "/srv/bob", Hash: "{PLAIN}p\"q"},
	}
	if !reflect.DeepEqual(res.Records, want) {
		t.Errorf("got %+v\nwant %+v", res.Records, want)
	}
}

func TestWriteJSON(t *testing.T) {
	recs := []ExportRecord{{User: "a@b", Hash: "{PLAIN}x", Credentials: []string{"{PLAIN}x", "{CRAM-MD5}00"}}}
	var b bytes.Buffer
	if err := WriteJSON(&b, recs, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "{PLAIN}") {
		t.Errorf("hash without includeHashes: %s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, recs, true); err != nil {
		t.Fatal(err)
	}
	var out []JSONRecord
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Hash != "{PLAIN}x" || out[0].Credentials["CRAM-MD5"] != "{CRAM-MD5}00" || out[0].Mechs == nil {
		t.Errorf("got %+v", out)
	}
}

func TestSortRecords(t *testing.T) {
	recs := []ExportRecord{{User: "c"}, {User: "a"}, {User: "b"}}
	SortRecords(recs)
	if recs[0].User != "a" || recs[2].User != "c" {
		t.Errorf("got %v", recs)
	}
}

// TestExportHashUser checks a user name starting with '#', which CSV and
// passwd-file readers take for a comment: CSV quotes it and reads it back,
// the passwd-file writer refuses it by name.
func TestExportHashUser(t *testing.T) {
	recs := []ExportRecord{
		{User: "#sales@example.com", Hash: "{SHA512-CRYPT}$6$salt$hash"},
		{User: "bob@example.com", Hash: "{PLAIN}x"},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, recs, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n\"#sales@example.com\",") {
		t.Fatalf("the '#' user is not quoted:\n%s", b.String())
	}
	res, err := ParseCSV(&b, Options{})
	if err != nil || len(res.Errors) != 0 {
		t.Fatalf("read back: %+v, %v", res, err)
	}
	if len(res.Records) != 2 || res.Records[0].User != "#sales@example.com" || res.Records[0].Hash != recs[0].Hash ||
		res.Records[1].User != "bob@example.com" {
		t.Fatalf("read back %+v", res.Records)
	}
	err = WriteDovecotPasswd(io.Discard, recs)
	if err == nil || !strings.Contains(err.Error(), `"#sales@example.com"`) {
		t.Fatalf("passwd-file export of a '#' user: %v", err)
	}
}
