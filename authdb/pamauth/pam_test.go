//go:build pam

package pamauth

// These tests run real PAM transactions through pam_wrapper and the
// pam_matrix test module (Debian package libpam-wrapper); they never touch
// system accounts. Run them with testdata/run-tests.sh from the repository
// root, which preloads pam_wrapper into the test binary only:
//
//	go test -tags pam -exec "env LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
//	    PAM_WRAPPER_SERVICE_DIR=$PWD/authdb/pamauth/testdata/pam.d" ./authdb/pamauth/
//
// Without PAM_WRAPPER in the environment the transaction tests skip.
//
// pam_wrapper reads the service directory when the process starts, so the
// service files are static (testdata/pam.d); each test only writes its own
// pam_matrix password file and points PAM_MATRIX_PASSWD at it. The file has
// one "user:password:service" line per user; pam_acct_mgmt lets the user
// pass only on that one service, and pam_matrix uses the first line that
// names the user, so a user cannot be allowed two services: tests that
// need the other service use another user. pam_chauthtok rewrites the file,
// so the tests read it back.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/msteinert/pam/v2"

	"github.com/popadm/popadm/authdb"
)

const pamMatrixModule = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"

var (
	pop3Req   = authdb.Request{Service: authdb.ServicePOP3, Remote: "192.0.2.7:40000"}
	passwdReq = authdb.Request{Service: authdb.ServicePoppassd, Remote: "[2001:db8::1]:40000"}
)

// syncBuf is a log sink safe for the transaction goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// needWrapper skips unless the test binary runs under pam_wrapper.
func needWrapper(t *testing.T) {
	t.Helper()
	if os.Getenv("PAM_WRAPPER") == "" {
		t.Skip("PAM_WRAPPER not set: run authdb/pamauth/testdata/run-tests.sh (needs libpam-wrapper)")
	}
}

// writePassdb writes a pam_matrix password file and points
// PAM_MATRIX_PASSWD at it.
func writePassdb(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passdb")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PAM_MATRIX_PASSWD", p)
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// uids is an injectable Options.Lookup over a fixed table.
func uids(table map[string]int) func(string) (int, string, error) {
	return func(name string) (int, string, error) {
		uid, ok := table[name]
		if !ok {
			return 0, "", fmt.Errorf("test lookup: no user %q", name)
		}
		return uid, "/home/" + name, nil
	}
}

var defaultUIDs = map[string]int{"alice": 1001, "bob": 1002, "carol": 1003}

// newAuth returns a backend whose log goes to the returned buffer, with
// Lookup from defaultUIDs unless opts sets one.
func newAuth(t *testing.T, opts Options) (*Auth, *syncBuf) {
	t.Helper()
	buf := &syncBuf{}
	opts.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Lookup == nil {
		opts.Lookup = uids(defaultUIDs)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("backend log:\n%s", buf.String())
		}
	})
	return a, buf
}

// authErr asserts that err is an *authdb.AuthError and returns it.
func authErr(t *testing.T, err error) *authdb.AuthError {
	t.Helper()
	var ae *authdb.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, authdb.ErrAuthFailed) {
		t.Fatalf("got %T %v, want *authdb.AuthError", err, err)
	}
	return ae
}

// noSecrets asserts that none of the passwords reached the log.
func noSecrets(t *testing.T, log *syncBuf, secrets ...string) {
	t.Helper()
	out := log.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("password %q found in the log:\n%s", s, out)
		}
	}
}

func TestLoginOK(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "alice:s3cret-A:popadm-pop3")
	a, log := newAuth(t, Options{})
	acct, err := a.Authenticate(context.Background(), pop3Req, "alice", "s3cret-A")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := &authdb.Account{Name: "alice", Local: "alice", Mechs: []string{authdb.MechPlain}}
	if !reflect.DeepEqual(acct, want) {
		t.Errorf("account = %+v, want %+v", acct, want)
	}
	noSecrets(t, log, "s3cret-A")
}

func TestWrongPasswordAndUnknownUser(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "alice:s3cret-A:popadm-pop3")
	a, log := newAuth(t, Options{})
	ctx := context.Background()
	_, err := a.Authenticate(ctx, pop3Req, "alice", "wrong-pw")
	ae := authErr(t, err)
	if ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK || ae.User != "alice" {
		t.Errorf("wrong password: %+v", ae)
	}
	_, err = a.Authenticate(ctx, pop3Req, "nobody-here", "wrong-pw")
	ae = authErr(t, err)
	if ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
		t.Errorf("unknown user: %+v", ae)
	}
	if errors.Is(err, authdb.ErrTemporary) {
		t.Errorf("unknown user is a temporary failure: %v", err)
	}
	noSecrets(t, log, "s3cret-A", "wrong-pw")
}

func TestInvalidInputNeverReachesPAM(t *testing.T) {
	needWrapper(t)
	// A NUL would cut the string in C: "s3cret-A\x00junk" must not log in.
	p := writePassdb(t, "alice:s3cret-A:popadm-passwd")
	a, _ := newAuth(t, Options{})
	ctx := context.Background()
	for _, pw := range []string{"s3cret-A\x00junk", "", strings.Repeat("x", 513)} {
		_, err := a.Authenticate(ctx, passwdReq, "alice", pw)
		if ae := authErr(t, err); ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
			t.Errorf("password %q: %+v", pw, ae)
		}
	}
	for _, name := range []string{"alice\x00x", "", "al\nice"} {
		_, err := a.Authenticate(ctx, passwdReq, name, "s3cret-A")
		if ae := authErr(t, err); ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
			t.Errorf("name %q: %+v", name, ae)
		}
	}
	for pw, rule := range map[string]string{"new\x00pw": "control-char", "": "empty", strings.Repeat("y", 513): "max-length"} {
		err := a.ChangePassword(ctx, passwdReq, "alice", "s3cret-A", pw)
		var pe *authdb.PolicyError
		if !errors.As(err, &pe) || pe.Rule != rule {
			t.Errorf("new password %q: %v, want rule %s", pw, err, rule)
		}
	}
	if got := readFile(t, p); got != "alice:s3cret-A:popadm-passwd\n" {
		t.Errorf("passdb changed: %q", got)
	}
}

func TestAccountRefusalWrongService(t *testing.T) {
	needWrapper(t)
	// bob may only use popadm-passwd: pam_acct_mgmt denies popadm-pop3.
	writePassdb(t, "bob:s3cret-B:popadm-passwd")
	a, _ := newAuth(t, Options{})
	_, err := a.Authenticate(context.Background(), pop3Req, "bob", "s3cret-B")
	ae := authErr(t, err)
	if ae.Reason != authdb.ReasonDisabled || !ae.PasswordOK {
		t.Errorf("acct_mgmt refusal: %+v", ae)
	}
	// The same user on the passwd side (poppassd's "pass") is fine.
	if _, err := a.Authenticate(context.Background(), passwdReq, "bob", "s3cret-B"); err != nil {
		t.Errorf("poppassd authenticate: %v", err)
	}
}

// refusedLikeWrongPassword asserts that the error for the correct password
// of a refused user is identical, field for field and in its text, to the
// error for a wrong password.
func refusedLikeWrongPassword(t *testing.T, refused, wrong error) {
	t.Helper()
	r, w := authErr(t, refused), authErr(t, wrong)
	if r.Reason != w.Reason || r.PasswordOK != w.PasswordOK || !reflect.DeepEqual(r, w) || refused.Error() != wrong.Error() {
		t.Errorf("refusal %+v (%q) differs from wrong password %+v (%q)", r, refused, w, wrong)
	}
	if r.Reason != authdb.ReasonBadPassword || r.PasswordOK {
		t.Errorf("refusal has reason %s, PasswordOK %v", r.Reason, r.PasswordOK)
	}
}

func TestMinUIDLooksLikeWrongPassword(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "daemon1:s3cret-D:popadm-pop3")
	a, log := newAuth(t, Options{Lookup: uids(map[string]int{"daemon1": 50})})
	ctx := context.Background()
	_, refused := a.Authenticate(ctx, pop3Req, "daemon1", "s3cret-D")
	_, wrong := a.Authenticate(ctx, pop3Req, "daemon1", "wrong-pw")
	refusedLikeWrongPassword(t, refused, wrong)
	if !strings.Contains(log.String(), "uid 50 is below the minimum 1000") {
		t.Errorf("cause not logged:\n%s", log.String())
	}
	// MinUID can be lowered.
	a, _ = newAuth(t, Options{MinUID: 50, Lookup: uids(map[string]int{"daemon1": 50})})
	if _, err := a.Authenticate(ctx, pop3Req, "daemon1", "s3cret-D"); err != nil {
		t.Errorf("MinUID 50: %v", err)
	}
	noSecrets(t, log, "s3cret-D", "wrong-pw")
}

func TestDenyListLooksLikeWrongPassword(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "root:s3cret-R:popadm-pop3")
	// root has a high UID here, so only the deny list can refuse it.
	a, log := newAuth(t, Options{Lookup: uids(map[string]int{"root": 5000})})
	ctx := context.Background()
	_, refused := a.Authenticate(ctx, pop3Req, "root", "s3cret-R")
	_, wrong := a.Authenticate(ctx, pop3Req, "root", "wrong-pw")
	refusedLikeWrongPassword(t, refused, wrong)
	if !strings.Contains(log.String(), "deny list") {
		t.Errorf("cause not logged:\n%s", log.String())
	}
	// An empty non-nil deny list lets root in.
	a, _ = newAuth(t, Options{DenyUsers: []string{}, Lookup: uids(map[string]int{"root": 5000})})
	if _, err := a.Authenticate(ctx, pop3Req, "root", "s3cret-R"); err != nil {
		t.Errorf("empty deny list: %v", err)
	}
}

func TestNoPasswdEntryLooksLikeWrongPassword(t *testing.T) {
	needWrapper(t)
	// The default Lookup (os/user) has no "popadm-ghost-7q": refused.
	writePassdb(t, "popadm-ghost-7q:s3cret-G:popadm-pop3")
	buf := &syncBuf{}
	a, err := New(Options{Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, refused := a.Authenticate(ctx, pop3Req, "popadm-ghost-7q", "s3cret-G")
	_, wrong := a.Authenticate(ctx, pop3Req, "popadm-ghost-7q", "wrong-pw")
	refusedLikeWrongPassword(t, refused, wrong)
	if !strings.Contains(buf.String(), "no usable passwd entry") {
		t.Errorf("cause not logged:\n%s", buf.String())
	}
}

func TestChangePassword(t *testing.T) {
	needWrapper(t)
	p := writePassdb(t, "carol:0ld-Secret:popadm-passwd", "alice:s3cret-A:popadm-pop3")
	a, log := newAuth(t, Options{})
	ctx := context.Background()
	if err := a.ChangePassword(ctx, passwdReq, "carol", "0ld-Secret", "N3w secret!"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if got, want := readFile(t, p), "carol:N3w secret!:popadm-passwd\nalice:s3cret-A:popadm-pop3\n"; got != want {
		t.Errorf("passdb = %q, want %q", got, want)
	}
	if _, err := a.Authenticate(ctx, passwdReq, "carol", "N3w secret!"); err != nil {
		t.Errorf("new password does not log in: %v", err)
	}
	_, err := a.Authenticate(ctx, passwdReq, "carol", "0ld-Secret")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonBadPassword {
		t.Errorf("old password after change: %+v", ae)
	}
	if !strings.Contains(log.String(), "password changed") {
		t.Errorf("change not logged:\n%s", log.String())
	}
	noSecrets(t, log, "0ld-Secret", "N3w secret!")
}

func TestChangePasswordRefusals(t *testing.T) {
	needWrapper(t)
	const content = "carol:0ld-Secret:popadm-passwd\ndaemon1:s3cret-D:popadm-passwd\nroot:s3cret-R:popadm-passwd\nbob:s3cret-B:popadm-pop3\n"
	p := writePassdb(t, strings.TrimSuffix(content, "\n"))
	a, log := newAuth(t, Options{Lookup: uids(map[string]int{"carol": 1003, "daemon1": 50, "root": 0, "bob": 1002})})
	ctx := context.Background()

	wrong := a.ChangePassword(ctx, passwdReq, "carol", "wrong-pw", "N3w-secret")
	if ae := authErr(t, wrong); ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
		t.Errorf("wrong old password: %+v", ae)
	}
	unknown := a.ChangePassword(ctx, passwdReq, "nobody-here", "wrong-pw", "N3w-secret")
	if ae := authErr(t, unknown); ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
		t.Errorf("unknown user: %+v", ae)
	}
	for _, u := range []struct{ name, pw string }{{"daemon1", "s3cret-D"}, {"root", "s3cret-R"}} {
		refused := a.ChangePassword(ctx, passwdReq, u.name, u.pw, "N3w-secret")
		wrongToo := a.ChangePassword(ctx, passwdReq, u.name, "wrong-pw", "N3w-secret")
		refusedLikeWrongPassword(t, refused, wrongToo)
	}
	// bob may not use popadm-passwd (pam_acct_mgmt).
	err := a.ChangePassword(ctx, passwdReq, "bob", "s3cret-B", "N3w-secret")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonDisabled || !ae.PasswordOK {
		t.Errorf("acct_mgmt refusal: %+v", ae)
	}
	if got := readFile(t, p); got != content {
		t.Errorf("passdb changed by refused changes: %q", got)
	}
	noSecrets(t, log, "0ld-Secret", "s3cret-D", "s3cret-R", "s3cret-B", "N3w-secret", "wrong-pw")
}

func TestExpiredPassword(t *testing.T) {
	needWrapper(t)
	// popadm-expired: pam_acct_mgmt answers PAM_NEW_AUTHTOK_REQD, and
	// pam_debug sends PAM_TEXT_INFO messages on the way.
	p := writePassdb(t, "carol:0ld-Secret:popadm-expired")
	a, log := newAuth(t, Options{AuthService: "popadm-expired", PasswdService: "popadm-expired"})
	ctx := context.Background()

	_, err := a.Authenticate(ctx, pop3Req, "carol", "0ld-Secret")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonExpired || !ae.PasswordOK {
		t.Errorf("POP3 login with expired password: %+v", ae)
	}
	_, err = a.Authenticate(ctx, pop3Req, "carol", "wrong-pw")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
		t.Errorf("wrong password on expired account: %+v", ae)
	}
	acct, err := a.Authenticate(ctx, passwdReq, "carol", "0ld-Secret")
	if err != nil || !acct.MustChange {
		t.Fatalf("poppassd authenticate with expired password: %+v, %v", acct, err)
	}
	if err := a.ChangePassword(ctx, passwdReq, "carol", "0ld-Secret", "N3w-secret"); err != nil {
		t.Fatalf("change of an expired password: %v", err)
	}
	if got := readFile(t, p); got != "carol:N3w-secret:popadm-expired\n" {
		t.Errorf("passdb = %q", got)
	}
	if !strings.Contains(log.String(), "acct=new_authtok_reqd") {
		t.Errorf("pam_debug's info message not logged:\n%s", log.String())
	}
}

func TestAccountExpired(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "carol:0ld-Secret:popadm-acctexpired")
	a, _ := newAuth(t, Options{AuthService: "popadm-acctexpired", PasswdService: "popadm-acctexpired"})
	ctx := context.Background()
	_, err := a.Authenticate(ctx, pop3Req, "carol", "0ld-Secret")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonExpired || !ae.PasswordOK {
		t.Errorf("expired account: %+v", ae)
	}
	// Unlike an expired password, an expired account cannot be changed.
	err = a.ChangePassword(ctx, passwdReq, "carol", "0ld-Secret", "N3w-secret")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonExpired {
		t.Errorf("change on expired account: %+v", ae)
	}
}

func TestSystemErrorsAreTemporary(t *testing.T) {
	needWrapper(t)
	p := writePassdb(t, "carol:0ld-Secret:popadm-lockbusy")
	ctx := context.Background()

	a, _ := newAuth(t, Options{AuthService: "popadm-syserr"})
	_, err := a.Authenticate(ctx, pop3Req, "carol", "0ld-Secret")
	if !errors.Is(err, authdb.ErrTemporary) || errors.Is(err, authdb.ErrAuthFailed) || !errors.Is(err, pam.ErrSystem) {
		t.Errorf("PAM_SYSTEM_ERR: %v", err)
	}

	a, _ = newAuth(t, Options{PasswdService: "popadm-lockbusy"})
	err = a.ChangePassword(ctx, passwdReq, "carol", "0ld-Secret", "N3w-secret")
	if !errors.Is(err, authdb.ErrTemporary) || !errors.Is(err, pam.ErrAuthtokLockBusy) {
		t.Errorf("PAM_AUTHTOK_LOCK_BUSY: %v", err)
	}
	if got := readFile(t, p); got != "carol:0ld-Secret:popadm-lockbusy\n" {
		t.Errorf("passdb = %q", got)
	}

	// A missing password file: pam_matrix answers PAM_AUTHINFO_UNAVAIL.
	t.Setenv("PAM_MATRIX_PASSWD", filepath.Join(t.TempDir(), "missing"))
	a, _ = newAuth(t, Options{})
	_, err = a.Authenticate(ctx, pop3Req, "carol", "0ld-Secret")
	if !errors.Is(err, authdb.ErrTemporary) || errors.Is(err, authdb.ErrAuthFailed) {
		t.Errorf("missing passdb: %v", err)
	}

	// A service without a file falls back to "other" (pam_deny).
	a, _ = newAuth(t, Options{AuthService: "popadm-no-such-service"})
	_, err = a.Authenticate(ctx, pop3Req, "carol", "0ld-Secret")
	if err == nil {
		t.Error("unknown service let a user in")
	}
}

func TestCanceledContext(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "alice:s3cret-A:popadm-pop3")
	a, _ := newAuth(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Authenticate(ctx, pop3Req, "alice", "s3cret-A")
	if !errors.Is(err, authdb.ErrTemporary) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	err = a.ChangePassword(ctx, passwdReq, "alice", "s3cret-A", "N3w-secret")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled change: %v", err)
	}
}

func TestConcurrentTransactions(t *testing.T) {
	needWrapper(t)
	writePassdb(t, "alice:s3cret-A:popadm-pop3", "carol:0ld-Secret:popadm-passwd")
	a, _ := newAuth(t, Options{MaxConcurrent: 3})
	ctx := context.Background()
	const workers, rounds = 6, 5
	errs := make(chan error, workers*rounds*2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if _, err := a.Authenticate(ctx, pop3Req, "alice", "s3cret-A"); err != nil {
					errs <- fmt.Errorf("worker %d round %d good: %w", w, r, err)
				}
				if _, err := a.Authenticate(ctx, pop3Req, "alice", "wrong-pw"); !errors.Is(err, authdb.ErrAuthFailed) {
					errs <- fmt.Errorf("worker %d round %d bad: %v", w, r, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestChangeErrorMapping(t *testing.T) {
	conv := newConversation("old-pw", "new-pw", nil)
	conv.beginChange()
	if _, err := conv.respond(styleError, "BAD PASSWORD: The password is shorter than 8 characters"); err != nil {
		t.Fatal(err)
	}
	quiet := newConversation("old-pw", "new-pw", nil)
	quiet.beginChange()

	var pe *authdb.PolicyError
	err := changeError("alice", "svc", pam.ErrAuthtok, conv)
	if !errors.As(err, &pe) || pe.Rule != "pam" || pe.Msg != "BAD PASSWORD: The password is shorter than 8 characters" {
		t.Errorf("quality rejection: %v", err)
	}
	if err := changeError("alice", "svc", pam.ErrMaxtries, conv); !errors.As(err, &pe) {
		t.Errorf("maxtries with message: %v", err)
	}
	for _, code := range []pam.Error{pam.ErrSystem, pam.ErrAuthtokLockBusy, pam.ErrConv, pam.ErrAuthinfoUnavail} {
		if err := changeError("alice", "svc", code, conv); !errors.Is(err, authdb.ErrTemporary) || !errors.Is(err, code) {
			t.Errorf("%v: %v", code, err)
		}
	}
	for _, code := range []pam.Error{pam.ErrAuth, pam.ErrAuthtokRecovery} {
		err := changeError("alice", "svc", code, conv)
		if ae := authErr(t, err); ae.Reason != authdb.ReasonBadPassword || ae.PasswordOK {
			t.Errorf("%v: %+v", code, ae)
		}
	}
	if err := changeError("alice", "svc", pam.ErrPermDenied, quiet); authErr(t, err).Reason != authdb.ReasonNotAllowed {
		t.Errorf("perm denied: %v", err)
	}
	err = changeError("alice", "svc", pam.ErrAuthtok, quiet)
	if err == nil || errors.As(err, &pe) || errors.Is(err, authdb.ErrTemporary) || errors.Is(err, authdb.ErrAuthFailed) || !errors.Is(err, pam.ErrAuthtok) {
		t.Errorf("silent PAM_AUTHTOK_ERR: %v", err)
	}
}

func TestAuthAndAcctErrorMapping(t *testing.T) {
	for _, code := range []pam.Error{pam.ErrAuth, pam.ErrUserUnknown, pam.ErrMaxtries, pam.ErrCredInsufficient} {
		if !reflect.DeepEqual(authError("alice", "svc", code), wrongPassword("alice")) {
			t.Errorf("authenticate %v: %v", code, authError("alice", "svc", code))
		}
	}
	for _, code := range []pam.Error{pam.ErrSystem, pam.ErrAuthinfoUnavail, pam.ErrAbort, pam.ErrConv, pam.ErrService} {
		if err := authError("alice", "svc", code); !errors.Is(err, authdb.ErrTemporary) {
			t.Errorf("authenticate %v: %v", code, err)
		}
	}
	cases := map[pam.Error]authdb.Reason{
		pam.ErrNewAuthtokReqd: authdb.ReasonExpired,
		pam.ErrAcctExpired:    authdb.ReasonExpired,
		pam.ErrPermDenied:     authdb.ReasonDisabled,
		pam.ErrAuth:           authdb.ReasonDisabled,
	}
	for code, reason := range cases {
		if ae := authErr(t, acctError("alice", "svc", code)); ae.Reason != reason || !ae.PasswordOK {
			t.Errorf("acct_mgmt %v: %+v", code, ae)
		}
	}
	if err := acctError("alice", "svc", pam.ErrSystem); !errors.Is(err, authdb.ErrTemporary) {
		t.Errorf("acct_mgmt system error: %v", err)
	}
}

func TestUnsupportedMechanisms(t *testing.T) {
	a, _ := newAuth(t, Options{})
	ctx := context.Background()
	_, err := a.Lookup(ctx, "alice")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonMechUnavailable {
		t.Errorf("Lookup: %+v", ae)
	}
	called := false
	_, err = a.AuthenticateWith(ctx, pop3Req, "alice", "APOP", func(*authdb.Account) (bool, error) { called = true; return true, nil })
	if ae := authErr(t, err); ae.Reason != authdb.ReasonMechUnavailable || called {
		t.Errorf("AuthenticateWith: %+v, check called %v", ae, called)
	}
	if a.RecordLogin(ctx, pop3Req, &authdb.Account{Name: "alice"}, "APOP") != nil || a.RecordFailure(ctx, pop3Req, "alice", authdb.ReasonBadPassword) != nil {
		t.Error("Record* returned an error")
	}
}

// TestConfDir uses pam_start_confdir instead of pam_wrapper (the test-only
// Options.ConfDir path). It runs only without pam_wrapper, whose library
// would be mixed with the system one.
func TestConfDir(t *testing.T) {
	if os.Getenv("PAM_WRAPPER") != "" {
		t.Skip("ConfDir is tested without pam_wrapper")
	}
	if _, err := os.Stat(pamMatrixModule); err != nil {
		t.Skipf("pam_matrix not installed (libpam-wrapper): %v", err)
	}
	if !pam.CheckPamHasStartConfdir() {
		t.Skip("Linux-PAM without pam_start_confdir")
	}
	dir, err := filepath.Abs("testdata/pam.d")
	if err != nil {
		t.Fatal(err)
	}
	p := writePassdb(t, "carol:0ld-Secret:popadm-passwd")
	a, _ := newAuth(t, Options{ConfDir: dir})
	ctx := context.Background()
	if err := a.ChangePassword(ctx, passwdReq, "carol", "0ld-Secret", "N3w-secret"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if got := readFile(t, p); got != "carol:N3w-secret:popadm-passwd\n" {
		t.Errorf("passdb = %q", got)
	}
	_, err = a.Authenticate(ctx, passwdReq, "carol", "wrong-pw")
	if ae := authErr(t, err); ae.Reason != authdb.ReasonBadPassword {
		t.Errorf("wrong password: %+v", ae)
	}
}
