package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExampleRoundTrip: the example file parses back to the defaults and
// validates.
func TestExampleRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Example(&b); err != nil {
		t.Fatal(err)
	}
	f, err := Parse("example.toml", b.Bytes())
	if err != nil {
		t.Fatalf("example does not parse: %v\n%s", err, b.String())
	}
	if want := Defaults(); !reflect.DeepEqual(f.Config, want) {
		t.Fatalf("example parses to\n%+v\nwant\n%+v", f.Config, want)
	}
	if errs := Validate(&f.Config, ValidateOptions{}); len(errs) > 0 {
		t.Fatalf("defaults do not validate: %v", errs)
	}
	for _, s := range Settings() {
		if !f.Defined(s.Key) {
			t.Errorf("example does not set %s", s.Key)
		}
		if !strings.Contains(b.String(), "# "+s.Help+"\n") {
			t.Errorf("example lacks the help of %s", s.Key)
		}
		if !strings.Contains(b.String(), "--"+s.Flag) {
			t.Errorf("example does not name --%s", s.Flag)
		}
	}
}

// TestTableCoversConfig: every leaf field of Config has exactly one
// setting, keys and flags are unique, and every key's section is listed.
func TestTableCoversConfig(t *testing.T) {
	var c Config
	fields := map[uintptr]string{}
	var walk func(v reflect.Value, name string)
	walk = func(v reflect.Value, name string) {
		if v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(time.Duration(0)) {
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), name+"."+v.Type().Field(i).Name)
			}
			return
		}
		fields[v.Addr().Pointer()] = name
	}
	walk(reflect.ValueOf(&c).Elem(), "Config")
	sections := map[string]bool{"": true}
	for _, s := range Sections() {
		sections[s] = true
	}
	keys, flags := map[string]bool{}, map[string]bool{}
	for _, s := range Settings() {
		p := reflect.ValueOf(s.Ptr(&c)).Pointer()
		if _, ok := fields[p]; !ok {
			t.Errorf("%s points to no field or to one already taken", s.Key)
		}
		delete(fields, p)
		if keys[s.Key] || flags[s.Flag] {
			t.Errorf("duplicate key %s or flag %s", s.Key, s.Flag)
		}
		keys[s.Key], flags[s.Flag] = true, true
		if !sections[s.Section()] {
			t.Errorf("%s: section %q not in Sections", s.Key, s.Section())
		}
		if s.Help == "" || s.Flag == "" {
			t.Errorf("%s: no help or flag", s.Key)
		}
		if got, ok := Lookup(s.Key); !ok || got.Flag != s.Flag {
			t.Errorf("Lookup(%s) = %v, %v", s.Key, got.Flag, ok)
		}
	}
	for _, name := range fields {
		t.Errorf("field %s has no setting", name)
	}
}

// TestUnknownKeyEverySection: an unknown key is reported with its key and
// line in every section.
func TestUnknownKeyEverySection(t *testing.T) {
	for _, sec := range append([]string{""}, Sections()...) {
		var b strings.Builder
		b.WriteString("# header\n\n")
		if sec != "" {
			b.WriteString("[" + sec + "]\n")
		}
		b.WriteString("# comment\n")
		b.WriteString("bogus_key = 1\n")
		line := strings.Count(b.String(), "\n")
		key := "bogus_key"
		if sec != "" {
			key = sec + ".bogus_key"
		}
		_, err := Parse("x.toml", []byte(b.String()))
		e := only(t, err)
		if e.Key != key || e.Line != line || e.File != "x.toml" || !strings.Contains(e.Msg, "unknown key") {
			t.Errorf("section %q: got %+v, want key %s line %d", sec, e, key, line)
		}
		if want := "x.toml:" + strconv.Itoa(line) + ": " + key + ": unknown key"; e.Error() != want {
			t.Errorf("message %q, want %q", e.Error(), want)
		}
	}
}

// TestBadInput: each bad value names its key and line.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"bad duration", "[pop3]\nidle_timeout = \"ten minutes\"\n", "pop3.idle_timeout", 2, "bad duration"},
		{"duration as integer", "[limits]\n\nfailure_delay = 2\n", "limits.failure_delay", 3, "duration string"},
		{"int as string", "[limits]\nmax_conns = \"many\"\n", "limits.max_conns", 2, "want an integer, got a string"},
		{"bool as string", "[poppassd]\nallow_remote = \"yes\"\n", "poppassd.allow_remote", 2, "want true or false"},
		{"list as string", "[pop3]\nlisten = \":110\"\n", "pop3.listen", 2, "array of strings"},
		{"list of ints", "[pop3]\nlisten = [\n  110,\n]\n", "pop3.listen", 2, "array of strings"},
		{"string as int", "db = 5\n", "db", 1, "want a string"},
		{"dotted key", "pop3.apop = \"on\"\n", "pop3.apop", 1, "want true or false"},
		{"unknown section", "db = \"x\"\n[popp3]\nlisten = []\n", "popp3", 2, "unknown section [popp3]"},
		{"section not a table", "pop3 = 1\n", "pop3", 1, "must be a table"},
		{"syntax error", "db = \"x\"\n\nmax_conns = \n", "max_conns", 3, "expected value"},
		{"unterminated string", "db = \"x\"\nhostname = \"abc\n", "hostname", 2, "newlines"},
		{"duplicate key", "db = \"x\"\ndb = \"y\"\n", "db", 2, "already been defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(c.text))
			e := only(t, err)
			if e.Key != c.key || e.Line != c.line || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("got %+v (%v), want key %q line %d msg ~%q", e, e, c.key, c.line, c.msg)
			}
		})
	}
}

// TestValidateLocated: value checks run by Validate are reported at the
// line of the key in the file.
func TestValidateLocated(t *testing.T) {
	cases := []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"idle below floor", "[pop3]\nidle_timeout = \"5m\"\n", "pop3.idle_timeout", 2, "below RFC 1939"},
		{"poppassd remote", "[poppassd]\n# x\nlisten = [\"0.0.0.0:106\"]\n", "poppassd.listen", 3, "not loopback"},
		{"poppassd tls remote", "[poppassd]\nlisten_tls = [\"192.0.2.1:1106\"]\n", "poppassd.listen_tls", 2, "not loopback"},
		{"cert without key", "[tls]\ncert = \"/etc/c.pem\"\n", "tls.cert", 2, "without tls.key"},
		{"key without cert", "[tls]\nkey = \"/etc/k.pem\"\n", "tls.key", 2, "without tls.cert"},
		{"unknown backend", "[auth]\nbackends = \"ldap\"\n", "auth.backends", 2, "unknown backend"},
		{"unknown scheme", "[auth]\nscheme = \"ROT13\"\n", "auth.scheme", 2, "unknown password scheme"},
		{"unknown sasl", "[pop3]\nsasl = [\"SCRAM-SHA-256\", \"GSSAPI\"]\n", "pop3.sasl", 2, "GSSAPI"},
		{"bad expire", "[pop3]\nexpire = \"soon\"\n", "pop3.expire", 2, "NEVER"},
		{"negative limit", "[limits]\nmax_conns_per_ip = -3\n", "limits.max_conns_per_ip", 2, "negative"},
		{"negative delay", "[limits]\nfailure_delay = \"-1s\"\n", "limits.failure_delay", 2, "negative"},
		{"ip fail limit", "[limits]\nip_fail_limit = -2\n", "limits.ip_fail_limit", 2, "-1"},
		{"bad listen", "[pop3]\nlisten = [\"110\"]\n", "pop3.listen", 2, "bad listen address"},
		{"bad log format", "[log]\nformat = \"xml\"\n", "log.format", 2, "text or json"},
		{"bad log level", "[log]\nlevel = \"loud\"\n", "log.level", 2, "debug"},
		{"bad location", "[mail]\nlocation = \"/var/vmail\"\n", "mail.location", 2, "maildir:PATH"},
		{"bad metrics", "[metrics]\nlisten = \"off\"\n", "metrics.listen", 2, "none"},
		{"empty db", "db = \"\"\n", "db", 1, "empty"},
		{"group without user", "group = \"mail\"\n", "group", 1, "without user"},
		{"bad socketmap", "[socketmap]\nlisten = \"127.0.0.1:1\"\n", "socketmap.listen", 2, "unix:/PATH"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("v.toml", []byte(c.text))
			if err != nil {
				t.Fatal(err)
			}
			errs := Validate(&f.Config, ValidateOptions{})
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			e := f.Locate(errs[0])
			if e.Key != c.key || e.Line != c.line || e.File != "v.toml" || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("got %v, want key %q line %d msg ~%q", e, c.key, c.line, c.msg)
			}
		})
	}
}

// TestValidateAllowed: the settings that relax checks do so.
func TestValidateAllowed(t *testing.T) {
	f, err := Parse("ok.toml", []byte(`
[pop3]
idle_timeout = "1s"
sasl = ["cram-md5", "SCRAM-SHA-1"]
expire = "NEVER"
[poppassd]
listen = ["0.0.0.0:106"]
allow_remote = true
[auth]
backends = "SQLite, PAM"
scheme = "sha512-crypt"
[limits]
ip_fail_limit = -1
[metrics]
listen = "none"
`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := Validate(&f.Config, ValidateOptions{AllowShortIdleTimeout: true}); len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if errs := Validate(&f.Config, ValidateOptions{}); len(errs) != 1 || errs[0].Key != "pop3.idle_timeout" {
		t.Fatalf("without the option: %v", errs)
	}
	if f.Config.POP3.IdleTimeout != time.Second || !f.Config.Poppassd.AllowRemote || f.Config.Limits.IPFailLimit != -1 {
		t.Fatalf("values not decoded: %+v", f.Config)
	}
	if f.Config.Limits.MaxConns != 1000 || f.Config.Mail.Location != Defaults().Mail.Location {
		t.Fatalf("unset keys lost their defaults: %+v", f.Config)
	}
}

// TestManyErrors: every problem is reported, in file order.
func TestManyErrors(t *testing.T) {
	_, err := Parse("m.toml", []byte("a = 1\n[pop3]\nlisten = 1\nb = 2\n[nope]\nc = 3\n"))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%T %v", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		"m.toml:1: a: unknown key",
		"m.toml:3: pop3.listen: want an array of strings, got an integer",
		"m.toml:4: pop3.b: unknown key",
		"m.toml:5: nope: unknown section [nope] (known: " + strings.Join(Sections(), ", ") + ")",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(err.Error(), want[0]+"\n"+want[1]) {
		t.Fatalf("Errors.Error: %q", err.Error())
	}
}

// TestKeyLines: the line index understands dotted and quoted keys,
// headers and multi-line strings.
func TestKeyLines(t *testing.T) {
	text := `db = "x" # comment
hostname = """
fake = 1
"""
pop3.apop = true
[ "poppassd" ]
'listen' = ["a = b"]
[auth] # c
  "scheme" = 'x'
`
	got := keyLines(text)
	want := map[string]int{"db": 1, "hostname": 2, "pop3": 5, "pop3.apop": 5, "poppassd": 6,
		"poppassd.listen": 7, "auth": 8, "auth.scheme": 9}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestLoad reads a file and reports a missing one as an fs error.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(p, []byte("[limits]\nmax_conns = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil || f.Config.Limits.MaxConns != 7 || f.Path != p || !f.Defined("limits.max_conns") || f.Defined("db") {
		t.Fatalf("Load: %v %+v", err, f)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestCopy copies each kind of value without sharing slices.
func TestCopy(t *testing.T) {
	src, dst := Defaults(), Defaults()
	src.POP3.Listen = []string{"127.0.0.1:1"}
	src.Limits.FailureDelay = time.Minute
	for _, s := range Settings() {
		s.Copy(&dst, &src)
	}
	src.POP3.Listen[0] = "changed"
	if dst.POP3.Listen[0] != "127.0.0.1:1" || dst.Limits.FailureDelay != time.Minute {
		t.Fatalf("copy: %+v", dst)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", 2 * time.Second: "2s", 0: "0s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("%v does not round-trip: %v %v", d, back, err)
		}
	}
}

// only returns the single Error in err.
func only(t *testing.T, err error) *Error {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("want one config error, got %T %v", err, err)
	}
	return errs[0]
}
