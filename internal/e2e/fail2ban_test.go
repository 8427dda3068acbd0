package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// filterPath returns the absolute path of the shipped fail2ban filter.
// fail2ban-regex needs an absolute path to a filter file.
func filterPath(t *testing.T) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	p := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "fail2ban", "filter.d", "popadm.conf")
	p, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// regexResult is what fail2ban-regex reports for one log file.
type regexResult struct {
	lines, ignored, matched, missed int
	matchedLines                    []string
	ips                             []string
	output                          string
}

var f2bSummary = regexp.MustCompile(`Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// runFail2banRegex runs fail2ban-regex with the shipped filter over the
// given log text and returns its counts, the matched lines and the
// addresses it would ban (one per matched line).
func runFail2banRegex(t *testing.T, logText string) regexResult {
	t.Helper()
	prog := need(t, "fail2ban-regex")
	filter := filterPath(t)
	logFile := filepath.Join(t.TempDir(), "popadm.log")
	if err := os.WriteFile(logFile, []byte(logText), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(prog, "--print-all-matched", "--print-no-missed", "--print-no-ignored", logFile, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	var r regexResult
	r.output = string(out)
	m := f2bSummary.FindStringSubmatch(r.output)
	if m == nil {
		t.Fatalf("no summary in fail2ban-regex output:\n%s", out)
	}
	for i, p := range []*int{&r.lines, &r.ignored, &r.matched, &r.missed} {
		*p, _ = strconv.Atoi(m[i+1])
	}
	inMatched := false
	for _, l := range strings.Split(r.output, "\n") {
		switch {
		case strings.HasPrefix(l, "|- Matched line(s):"):
			inMatched = true
		case inMatched && strings.HasPrefix(l, "`-"):
			inMatched = false
		case inMatched && strings.HasPrefix(l, "|  "):
			r.matchedLines = append(r.matchedLines, strings.TrimPrefix(l, "|  "))
		}
	}
	out, err = exec.Command(prog, "-o", "ip", logFile, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex -o ip: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			r.ips = append(r.ips, l)
		}
	}
	return r
}

// authLines returns the lines of log that contain every substring.
func authLines(log string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		all := l != ""
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// waitCount waits until the server log holds at least n lines containing
// sub; the log reaches the test through a pipe and may trail the wire.
func (e *env) waitCount(sub string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(authLines(e.logs(), sub)) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("log has %d lines with %q, want %d:\n%s", len(authLines(e.logs(), sub)), sub, n, e.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFail2banFilter drives real failures and successes over POP3 and
// poppassd, then checks that the shipped fail2ban filter matches exactly
// the failure lines the server wrote, bans only the client address, and
// matches no success.
func TestFail2banFilter(t *testing.T) {
	need(t, "fail2ban-regex")
	e := newEnv(t)
	e.addUser("ann@example.com", "Ann-pass 1", "--scheme", "SHA512-CRYPT")
	e.addUser("bea@example.com", "Bea-pass 1", "--scheme", "SHA512-CRYPT")
	e.addUser("cid@example.com", "Cid-pass 1", "--scheme", "SHA512-CRYPT")
	e.cli("", "user", "disable", "cid@example.com")
	// Four counted failures, then the address is refused with [LOGIN-DELAY].
	e.start("--ip-fail-limit", "4")
	pop3 := e.addr("pop3")
	pp := e.addr("poppassd")

	// Successes: a POP3 login and a poppassd password change.
	p := dialPOP3(t, pop3)
	p.login("ann@example.com", "Ann-pass 1")
	p.Cmd("QUIT")
	got := passwdSession(t, pp, "user bea@example.com", "pass Bea-pass 1", "newpass Bea-pass 2 new")
	if last := got[len(got)-1]; !strings.HasPrefix(last, "200 ") {
		t.Fatalf("poppassd change refused: %q", got)
	}
	// A refusal after the right password (disabled account): logged as a
	// failure, ignored by the filter (the client knows the password).
	p = dialPOP3(t, pop3)
	p.Cmd("USER cid@example.com")
	if r := p.Cmd("PASS Cid-pass 1"); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("disabled account logged in: %q", r)
	}
	e.waitCount(`msg="auth ok"`, 2)
	e.waitCount(`msg="auth failed"`, 1)

	// Guessing failures: POP3 wrong password, POP3 unknown user, poppassd
	// wrong old password, poppassd unknown user.
	p = dialPOP3(t, pop3)
	p.Cmd("USER ann@example.com")
	if r := p.Cmd("PASS wrong-1"); r != "-ERR [AUTH] authentication failed" {
		t.Fatalf("wrong password: %q", r)
	}
	p = dialPOP3(t, pop3)
	p.Cmd("USER nobody@example.com")
	if r := p.Cmd("PASS wrong-2"); r != "-ERR [AUTH] authentication failed" {
		t.Fatalf("unknown user: %q", r)
	}
	for _, user := range []string{"ann@example.com", "nobody2@example.com"} {
		got := passwdSession(t, pp, "user "+user, "pass wrong-3 "+user)
		if last := got[len(got)-1]; !strings.HasPrefix(last, "500 ") {
			t.Fatalf("poppassd wrong old password for %s: %q", user, got)
		}
	}
	// The address is now throttled: even the right password gets
	// [LOGIN-DELAY], and that refusal is a failure line too.
	p = dialPOP3(t, pop3)
	p.Cmd("USER ann@example.com")
	if r := p.Cmd("PASS Ann-pass 1"); !strings.HasPrefix(r, "-ERR [LOGIN-DELAY]") {
		t.Fatalf("throttled attempt got %q\n%s", r, e.logs())
	}
	const failures = 5
	e.waitCount(`msg="auth failed"`, failures+1)
	log := e.logs()
	for _, reason := range []string{"bad-password", "unknown-user", "throttled", "disabled"} {
		if len(authLines(log, `msg="auth failed"`, "reason="+reason)) == 0 {
			t.Fatalf("no %s line in the log:\n%s", reason, log)
		}
	}
	if n := len(authLines(log, `msg="auth failed"`, "proto=poppassd")); n != 2 {
		t.Fatalf("%d poppassd failure lines, want 2:\n%s", n, log)
	}

	r := runFail2banRegex(t, log)
	if r.matched != failures || r.ignored != 1 {
		t.Fatalf("fail2ban-regex matched %d and ignored %d lines, want %d and 1:\n%s\nlog:\n%s",
			r.matched, r.ignored, failures, r.output, log)
	}
	if len(r.matchedLines) != failures {
		t.Fatalf("%d matched lines listed, want %d:\n%s", len(r.matchedLines), failures, r.output)
	}
	for _, l := range r.matchedLines {
		if !strings.Contains(l, `msg="auth failed"`) || strings.Contains(l, "reason=disabled") {
			t.Fatalf("filter matched %q", l)
		}
	}
	if len(r.ips) != failures {
		t.Fatalf("fail2ban-regex -o ip gave %q, want %d addresses", r.ips, failures)
	}
	for _, ip := range r.ips {
		if ip != "127.0.0.1" {
			t.Fatalf("filter would ban %q, want 127.0.0.1 (ips %q)", ip, r.ips)
		}
	}

	// The same lines as the journal or rsyslog present them.
	var syslog strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		fmt.Fprintf(&syslog, "Nov 28 08:10:03 mail popadm[4242]: %s\n", l)
	}
	if r := runFail2banRegex(t, syslog.String()); r.matched != failures || r.ignored != 1 {
		t.Fatalf("syslog form: matched %d, ignored %d, want %d and 1:\n%s", r.matched, r.ignored, failures, r.output)
	}
}

// TestFail2banFilterJSON checks the filter against --log-format json output.
func TestFail2banFilterJSON(t *testing.T) {
	need(t, "fail2ban-regex")
	e := newEnv(t)
	e.addUser("ann@example.com", "Ann-pass 1", "--scheme", "SHA512-CRYPT")
	e.start("--log-format", "json")
	p := dialPOP3(t, e.addr("pop3"))
	p.login("ann@example.com", "Ann-pass 1")
	p.Cmd("QUIT")
	p = dialPOP3(t, e.addr("pop3"))
	p.Cmd("USER ann@example.com")
	p.Cmd("PASS wrong-1")
	got := passwdSession(t, e.addr("poppassd"), "user nobody@example.com", "pass wrong-2")
	if last := got[len(got)-1]; !strings.HasPrefix(last, "500 ") {
		t.Fatalf("poppassd: %q", got)
	}
	e.waitCount(`"msg":"auth failed"`, 2)
	e.waitCount(`"msg":"auth ok"`, 1)
	r := runFail2banRegex(t, e.logs())
	if r.matched != 2 || len(r.ips) != 2 || r.ips[0] != "127.0.0.1" || r.ips[1] != "127.0.0.1" {
		t.Fatalf("matched %d, ips %q, want 2 × 127.0.0.1:\n%s\nlog:\n%s", r.matched, r.ips, r.output, e.logs())
	}
	for _, l := range r.matchedLines {
		if strings.Contains(l, "auth ok") {
			t.Fatalf("filter matched a success: %s", l)
		}
	}
}

// TestFail2banFilterSynthetic covers what a loopback test cannot produce:
// IPv6 remotes, and login names crafted to imitate other fields.
func TestFail2banFilterSynthetic(t *testing.T) {
	lines := []string{
		`time=2026-11-28T08:10:00.123Z level=INFO msg="auth failed" proto=pop3 user=bob@example.com remote=[2001:db8::7]:40000 mech=USER reason=bad-password`,
		`time=2026-11-28T08:10:00.456+01:00 level=INFO msg="auth failed" proto=poppassd user=bob remote=[2001:db8::8]:106 mech=PASS reason=unknown-user`,
		`{"time":"2026-11-28T08:10:01Z","level":"INFO","msg":"auth failed","proto":"pop3","user":"bob","remote":"[2001:db8::9]:995","mech":"PLAIN","reason":"throttled"}`,
		// A login name that spells another remote= must not move the ban.
		`time=2026-11-28T08:10:02Z level=INFO msg="auth failed" proto=pop3 user="x remote=198.51.100.1:1 mech=USER reason=bad-password" remote=192.0.2.8:40312 mech=USER reason=bad-password`,
		// A login name that spells an ignored reason must not hide a failure.
		`time=2026-11-28T08:10:03Z level=INFO msg="auth failed" proto=pop3 user="x reason=expired " remote=192.0.2.9:1 mech=USER reason=bad-password`,
		`{"time":"2026-11-28T08:10:04Z","level":"INFO","msg":"auth failed","proto":"pop3","user":"x\",\"reason\":\"expired\"}","remote":"192.0.2.10:995","mech":"PLAIN","reason":"bad-password"}`,
		// Not failures.
		`time=2026-11-28T08:10:05Z level=INFO msg="auth ok" proto=pop3 user=bob remote=[2001:db8::7]:40001 mech=USER tls=true`,
		`time=2026-11-28T08:10:06Z level=INFO msg="auth failed" proto=pop3 user=bob remote=[2001:db8::a]:40001 mech=USER reason=expired`,
		`time=2026-11-28T08:10:07Z level=INFO msg="auth failed" proto=pop3 user=bob remote=192.0.2.11:40001 mech=USER reason=temporary-failure`,
	}
	r := runFail2banRegex(t, strings.Join(lines, "\n")+"\n")
	want := []string{"2001:db8::7", "2001:db8::8", "2001:db8::9", "192.0.2.8", "192.0.2.9", "192.0.2.10"}
	if strings.Join(r.ips, " ") != strings.Join(want, " ") || r.matched != len(want) || r.ignored != 2 || r.missed != 1 {
		t.Fatalf("ips %q (matched %d, ignored %d, missed %d), want %q, 2 ignored, 1 missed:\n%s",
			r.ips, r.matched, r.ignored, r.missed, want, r.output)
	}
}
