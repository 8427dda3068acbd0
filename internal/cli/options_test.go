package cli

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
)

// runCmd executes one command built with a runF, gh style: argv in,
// options out, nothing run.
func runCmd(t *testing.T, cmd *cobra.Command, args string) error {
	t.Helper()
	var out bytes.Buffer
	cmd.SetArgs(strings.Fields(args))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	_, err := cmd.ExecuteC()
	return err
}

func TestUserAddOptions(t *testing.T) {
	exp, _ := parseTime("2030-01-02")
	tests := []struct {
		args    string
		want    userAddOptions
		wantErr int
	}{
		{args: "a@b", want: userAddOptions{name: "a@b"}},
		{args: "a@b --password-stdin --name Al", want: userAddOptions{name: "a@b", pw: pwFlags{stdin: true}, displayName: "Al"}},
		{args: "a@b --random", want: userAddOptions{name: "a@b", pw: pwFlags{random: 20}}},
		{args: "a@b --random=32 --must-change --disabled", want: userAddOptions{name: "a@b", pw: pwFlags{random: 32}, mustChange: true, disabled: true}},
		{args: "a@b --hash {SHA}x= --if-not-exists --create-domain", want: userAddOptions{name: "a@b", pw: pwFlags{hash: "{SHA}x="}, ifNotExists: true, createDomain: true}},
		{args: "a@b --mechs PLAIN,apop --scheme BLF-CRYPT --quota 1K --expires 2030-01-02",
			want: userAddOptions{name: "a@b", mechs: []string{"plain", "apop"}, scheme: "BLF-CRYPT", quota: 1024, expires: exp}},
		{args: "a@b --password-file f --skip-policy --maildrop /m", want: userAddOptions{name: "a@b", pw: pwFlags{file: "f"}, skipPolicy: true, maildrop: "/m"}},
		{args: "", wantErr: ExitUsage},
		{args: "a@b --random=7", wantErr: ExitUsage},
		{args: "a@b --random --hash {SHA}x=", wantErr: ExitUsage},
		{args: "a@b --password-stdin --password-file f", wantErr: ExitUsage},
		{args: "a@b --password x", wantErr: ExitUsage},
		{args: "a@b --expires soon", wantErr: ExitUsage},
	}
	for _, tt := range tests {
		var got *userAddOptions
		cmd := newCmdUserAdd(&factory{}, func(o *userAddOptions) error { got = o; return nil })
		err := runCmd(t, cmd, tt.args)
		if tt.wantErr != 0 {
			if exitCodeFor(err) != tt.wantErr {
				t.Errorf("%q: error %v (exit %d), want exit %d", tt.args, err, exitCodeFor(err), tt.wantErr)
			}
			continue
		}
		if err != nil || got == nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		got.f = nil
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.args, *got, tt.want)
		}
	}
}

func TestUserModOptions(t *testing.T) {
	s := func(v string) *string { return &v }
	b := func(v bool) *bool { return &v }
	i := func(v int64) *int64 { return &v }
	tests := []struct {
		args    string
		want    authdb.UserMod
		wantErr int
	}{
		{args: "a --name X", want: authdb.UserMod{DisplayName: s("X")}},
		{args: "a --no-pop3", want: authdb.UserMod{NoPOP3: b(true)}},
		{args: "a --no-pop3=false --no-passwd-change", want: authdb.UserMod{NoPOP3: b(false), NoPasswd: b(true)}},
		{args: "a --quota 2M --rename b@c", want: authdb.UserMod{QuotaBytes: i(2 << 20), Rename: s("b@c")}},
		{args: "a --expires never", want: authdb.UserMod{Expires: &time.Time{}}},
		{args: "a", wantErr: ExitUsage},
		{args: "a --quota x", wantErr: ExitUsage},
	}
	for _, tt := range tests {
		var got *userModOptions
		cmd := newCmdUserMod(&factory{}, func(o *userModOptions) error { got = o; return nil })
		err := runCmd(t, cmd, tt.args)
		if tt.wantErr != 0 {
			if exitCodeFor(err) != tt.wantErr {
				t.Errorf("%q: %v, want exit %d", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got == nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(got.mod, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.args, got.mod, tt.want)
		}
	}
}

func TestImportExportOptions(t *testing.T) {
	var io *importOptions
	cmd := newCmdImport(&factory{}, func(o *importOptions) error { io = o; return nil })
	if err := runCmd(t, cmd, "htpasswd - -n --on-conflict update --create-domains --domain d.example --bare-scheme PLAIN"); err != nil {
		t.Fatal(err)
	}
	want := importOptions{format: "htpasswd", file: "-", dryRun: true, onConflict: "update", createDomains: true, domain: "d.example", bareScheme: "PLAIN"}
	io.f = nil
	if *io != want {
		t.Errorf("import options %+v", *io)
	}
	for _, bad := range []string{"csv", "ldif x", "csv x --on-conflict maybe", "csv x y"} {
		cmd := newCmdImport(&factory{}, func(*importOptions) error { return nil })
		if err := runCmd(t, cmd, bad); exitCodeFor(err) != ExitUsage {
			t.Errorf("import %q: %v", bad, err)
		}
	}
	var eo *exportOptions
	cmd = newCmdExport(&factory{}, func(o *exportOptions) error { eo = o; return nil })
	if err := runCmd(t, cmd, "csv --include-hashes --prefer plain,sha512-crypt --domain d -f out"); err != nil {
		t.Fatal(err)
	}
	if eo.format != "csv" || !eo.includeHashes || !reflect.DeepEqual(eo.prefer, []string{"PLAIN", "SHA512-CRYPT"}) || eo.outFile != "out" || eo.domain != "d" {
		t.Errorf("export options %+v", *eo)
	}
}

func TestPwAndAuthOptions(t *testing.T) {
	var po *pwOptions
	cmd := newCmdPw(&factory{}, func(o *pwOptions) error { po = o; return nil })
	if err := runCmd(t, cmd, "-s BLF-CRYPT -r 12 -u x@y -V --password-stdin"); err != nil {
		t.Fatal(err)
	}
	if po.scheme != "BLF-CRYPT" || po.rounds != 12 || po.user != "x@y" || !po.verify || !po.pw.stdin {
		t.Errorf("pw options %+v", *po)
	}
	var ao *authTestOptions
	cmd = newCmdAuthTest(&factory{}, func(o *authTestOptions) error { ao = o; return nil })
	if err := runCmd(t, cmd, "u --service poppassd --mech cram-md5 --password-stdin"); err != nil {
		t.Fatal(err)
	}
	if ao.user != "u" || ao.service != "poppassd" || ao.mech != "cram-md5" || !ao.pw.stdin {
		t.Errorf("auth options %+v", *ao)
	}
	// Defaults.
	cmd = newCmdAuthTest(&factory{}, func(o *authTestOptions) error { ao = o; return nil })
	if err := runCmd(t, cmd, "u"); err != nil || ao.service != "pop3" || ao.mech != "plain" {
		t.Errorf("auth defaults %+v %v", *ao, err)
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "15m": 15 * time.Minute, "0": 0} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1h", "1y", "d"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]int64{"0": 0, "500": 500, "1K": 1024, "500M": 500 << 20, "2G": 2 << 30, "1TiB": 1 << 40, "3mb": 3 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1.5G", "99999999999T"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
	for in, want := range map[time.Duration]string{0: "0", 15 * time.Minute: "15m", time.Hour: "1h", 90 * time.Minute: "1h30m", 180 * 24 * time.Hour: "180d", 90 * time.Second: "1m30s"} {
		if got := fmtDuration(in); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", in, got, want)
		}
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if got, err := parseSince("24h", now); err != nil || !got.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("parseSince 24h: %v %v", got, err)
	}
	if got, err := parseSince("2025-01-02T03:04:05Z", now); err != nil || got.Unix() != time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Unix() {
		t.Errorf("parseSince RFC3339: %v %v", got, err)
	}
	if n, w, err := parseLockout("10/15m"); err != nil || n != 10 || w != 15*time.Minute {
		t.Errorf("parseLockout: %d %v %v", n, w, err)
	}
	if n, _, err := parseLockout("off"); err != nil || n != 0 {
		t.Errorf("parseLockout off: %d %v", n, err)
	}
	for _, bad := range []string{"10", "x/15m", "0/1h", "3/x"} {
		if _, _, err := parseLockout(bad); err == nil {
			t.Errorf("parseLockout(%q) succeeded", bad)
		}
	}
}

func TestReadLine(t *testing.T) {
	for in, want := range map[string]string{
		"pw\n": "pw", "pw": "pw", "pw\r\n": "pw", "pw\r": "pw\r", "pw\n\n": "pw", " pw \n": " pw ", "a\rb\n": "a\rb", "\n": "",
	} {
		f := newFactory(strings.NewReader(in), nil, nil)
		got, err := readLine(f.stdinReader())
		if err != nil || got != want {
			t.Errorf("readLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	f := newFactory(strings.NewReader(""), nil, nil)
	if _, err := readLine(f.stdinReader()); err == nil {
		t.Error("readLine on empty input succeeded")
	}
	f = newFactory(strings.NewReader(strings.Repeat("x", maxSecretLine+10)), nil, nil)
	if _, err := readLine(f.stdinReader()); err == nil {
		t.Error("readLine of an overlong line succeeded")
	}
}

func TestRandomPassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		pw, err := randomPassword(20)
		if err != nil || len(pw) != 20 || strings.Trim(pw, randomAlphabet) != "" {
			t.Fatalf("randomPassword = %q, %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("repeated password %q", pw)
		}
		seen[pw] = true
	}
}

func TestExitCodeMapping(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
	}{
		{authdb.ErrNoSuchUser, ExitNoUser},
		{authdb.ErrNoSuchDomain, ExitNoUser},
		{authdb.ErrUserExists, ExitCantCreate},
		{authdb.ErrDomainExists, ExitCantCreate},
		{authdb.ErrInvalidName, ExitDataErr},
		{authdb.ErrInvalidHash, ExitDataErr},
		{&authdb.PolicyError{Rule: "min-length", Msg: "too short"}, ExitDataErr},
		{authdb.ErrTemporary, ExitTempFail},
		{authdb.ErrSchemaTooNew, ExitConfig},
		{authdb.ErrNotInitialized, ExitConfig},
		{authdb.ErrNotMigrated, ExitConfig},
		{authdb.ErrReadOnly, ExitConfig},
		{&authdb.AuthError{Reason: authdb.ReasonBadPassword}, ExitNoPerm},
		{usageErrorf("x"), ExitUsage},
		{errUnknown, ExitFailure},
	} {
		if got := exitCodeFor(tt.err); got != tt.code {
			t.Errorf("exitCodeFor(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	if got := shortText(withSubject(authdb.ErrNoSuchUser, "user", "x@y")); got != "no such user" {
		t.Errorf("shortText %q", got)
	}
	if got := humanMessage(withSubject(authdb.ErrNoSuchUser, "user", "x@y")); got != "x@y: no such user" {
		t.Errorf("humanMessage %q", got)
	}
}

var errUnknown = &usageLike{}

type usageLike struct{}

func (*usageLike) Error() string { return "something else broke" }
