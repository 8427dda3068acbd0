package pop3d_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// TestAuthFailuresIdentical: unknown user and wrong password get
// byte-identical replies for every mechanism.
func TestAuthFailuresIdentical(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{APOP: true, SASLMechanisms: memdrop.Mechanisms}})
	attempt := func(user, pass string) []string {
		c := h.dial(t)
		greeting := c.expect("+OK *")
		var replies []string
		c.cmd("USER " + user)
		replies = append(replies, c.line())
		c.cmd("PASS " + pass)
		replies = append(replies, c.line())
		b64 := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		c.cmd("AUTH PLAIN " + b64)
		replies = append(replies, c.line())
		c.cmd("AUTH LOGIN " + base64.StdEncoding.EncodeToString([]byte(user)))
		replies = append(replies, c.line())
		c.cmd(base64.StdEncoding.EncodeToString([]byte(pass)))
		replies = append(replies, c.line())
		stamp := greeting[strings.Index(greeting, "<"):]
		sum := md5.Sum([]byte(stamp + pass))
		c.cmd("APOP " + user + " " + hex.EncodeToString(sum[:]))
		replies = append(replies, c.line())
		c.cmd("AUTH CRAM-MD5")
		ch, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.line(), "+ "))
		mac := hmac.New(md5.New, []byte(pass))
		mac.Write(ch)
		c.cmd(base64.StdEncoding.EncodeToString([]byte(user + " " + hex.EncodeToString(mac.Sum(nil)))))
		replies = append(replies, c.line())
		c.do("QUIT", "+OK bye")
		return replies
	}
	unknown := attempt("nosuchuser", "whatever")
	wrong := attempt(testUser, "wrongpass")
	if strings.Join(unknown, "\n") != strings.Join(wrong, "\n") {
		t.Fatalf("replies differ:\nunknown user: %q\nwrong pass:   %q", unknown, wrong)
	}
	for _, r := range unknown {
		if r != "+OK send PASS" && r != "+ UGFzc3dvcmQ6" && r != pop3d.ErrAuthFailed.Error() {
			t.Fatalf("unexpected reply %q", r)
		}
		if strings.Contains(strings.ToLower(r), "lock") || strings.Contains(strings.ToLower(r), "wait") {
			t.Fatalf("auth failure text %q would make fetchmail think the maildrop is busy", r)
		}
	}
}

// TestTraceRedaction: without TraceAuth the trace has no credentials; with
// it, it does.
func TestTraceRedaction(t *testing.T) {
	secret := "s3cr3t pass phrase"
	run := func(traceAuth bool) string {
		be := newBackend()
		be.AddUser("tracy", secret)
		trace := &testkit.SyncBuffer{}
		logs := &testkit.SyncBuffer{}
		h := startHarness(t, harnessConfig{backend: be, opts: pop3d.Options{
			APOP: true, Debug: trace, TraceAuth: traceAuth,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}})
		c := h.dial(t)
		greeting := c.expect("+OK *")
		c.do("USER tracy", "+OK *")
		c.do("PASS "+secret, "+OK *")
		c.do("QUIT", "+OK *")
		c = h.dial(t)
		greeting = c.expect("+OK *")
		c.do("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00tracy\x00"+secret)), "+OK *")
		c.do("QUIT", "+OK *")
		c = h.dial(t)
		c.expect("+OK *")
		c.do("AUTH LOGIN", "+ *")
		c.do(base64.StdEncoding.EncodeToString([]byte("tracy")), "+ *")
		c.do(base64.StdEncoding.EncodeToString([]byte(secret)), "+OK *")
		c.do("QUIT", "+OK *")
		c = h.dial(t)
		greeting = c.expect("+OK *")
		sum := md5.Sum([]byte(greeting[strings.Index(greeting, "<"):] + secret))
		c.do("APOP tracy "+hex.EncodeToString(sum[:]), "+OK *")
		c.do("QUIT", "+OK *")
		if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), hex.EncodeToString(sum[:])) {
			t.Fatalf("credentials in the log:\n%s", logs.String())
		}
		return trace.String() + "\n" + hex.EncodeToString(sum[:])
	}
	redacted := run(false)
	digest := redacted[strings.LastIndex(redacted, "\n")+1:]
	secrets := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.StdEncoding.EncodeToString([]byte("\x00tracy\x00" + secret)), digest}
	for _, s := range secrets {
		if strings.Contains(redacted[:strings.LastIndex(redacted, "\n")], s) {
			t.Fatalf("trace contains %q:\n%s", s, redacted)
		}
	}
	if !strings.Contains(redacted, "C: PASS ***") || !strings.Contains(redacted, "C: ***") || !strings.Contains(redacted, "C: USER tracy") {
		t.Fatalf("trace lacks the redacted lines:\n%s", redacted)
	}
	full := run(true)
	if !strings.Contains(full, "C: PASS "+secret) {
		t.Fatalf("TraceAuth trace lacks the password:\n%s", full)
	}
}

// TestInUse: a second login to a locked maildrop gets [IN-USE], and works
// once the first session ended.
func TestInUse(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	a := h.dial(t)
	a.expect("+OK *")
	a.login()
	b := h.dial(t)
	b.expect("+OK *")
	b.do("USER "+testUser, "+OK *")
	reply := b.do("PASS "+testPass, "-ERR [IN-USE] *")
	if !strings.Contains(reply, "locked") {
		t.Fatalf("IN-USE reply %q should say locked (fetchmail keys on it)", reply)
	}
	b.do("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00mrose\x00tanstaaf")), "-ERR [IN-USE] *")
	a.do("QUIT", "+OK *")
	a.closed()
	waitFor(t, "lock released", func() bool { return !h.be.Stats(testUser).Locked })
	b.login()
}

// TestCRAMMD5 runs CRAM-MD5 (RFC 2195) through a SASLBackend.
func TestCRAMMD5(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{SASLMechanisms: []string{"cram-md5"}, IsLocal: nonLocal}})
	c := h.dial(t)
	c.expect("+OK *")
	ch := c.do("AUTH CRAM-MD5", "+ *")
	challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch, "+ "))
	if err != nil || !regexp.MustCompile(`^<[0-9a-f]+\.[0-9]+@localhost>$`).Match(challenge) {
		t.Fatalf("challenge %q, %v", challenge, err)
	}
	mac := hmac.New(md5.New, []byte(testPass))
	mac.Write(challenge)
	resp := testUser + " " + hex.EncodeToString(mac.Sum(nil))
	c.do(base64.StdEncoding.EncodeToString([]byte(resp)), "+OK mrose's maildrop has 2 messages (320 octets)")
	c.do("QUIT", "+OK *")
}

// TestSCRAM runs SCRAM-SHA-256 with the server-final "v=" data sent as a
// "+ " continuation, answered by an empty line, then +OK (RFC 5034 §4).
func TestSCRAM(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{SASLMechanisms: memdrop.Mechanisms}})
	for _, tc := range []struct {
		name, pass, final string
		ir                bool
	}{
		{"ok", testPass, "+OK *", true},
		{"ok-no-ir", testPass, "+OK *", false},
		{"wrong", "nope", pop3d.ErrAuthFailed.Error(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial(t)
			c.expect("+OK *")
			cl, err := scram.SHA256.NewClient(testUser, tc.pass, "")
			if err != nil {
				t.Fatal(err)
			}
			conv := cl.NewConversation()
			first, _ := conv.Step("")
			b64 := base64.StdEncoding.EncodeToString
			if tc.ir {
				c.cmd("AUTH SCRAM-SHA-256 " + b64([]byte(first)))
			} else {
				c.do("AUTH SCRAM-SHA-256", "+\\ ")
				c.cmd(b64([]byte(first)))
			}
			line := c.expect("+ *")
			s1, _ := base64.StdEncoding.DecodeString(line[2:])
			final, err := conv.Step(string(s1))
			if err != nil {
				t.Fatal(err)
			}
			c.cmd(b64([]byte(final)))
			if tc.final != "+OK *" {
				c.expect(tc.final)
				return
			}
			line = c.expect("+ *")
			v, _ := base64.StdEncoding.DecodeString(line[2:])
			if !strings.HasPrefix(string(v), "v=") {
				t.Fatalf("server-final %q", v)
			}
			if _, err := conv.Step(string(v)); err != nil || !conv.Valid() {
				t.Fatalf("server signature rejected: %v", err)
			}
			c.cmd("")
			c.expect("+OK mrose's maildrop has 2 messages (320 octets)")
			c.do("QUIT", "+OK *")
			c.closed()
		})
	}
}

// TestSCRAMFinalCancel: a client that answers the server-final data
// with something else than an empty line is refused, and no maildrop is
// opened.
func TestSCRAMFinalCancel(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{SASLMechanisms: memdrop.Mechanisms}})
	c := h.dial(t)
	c.expect("+OK *")
	cl, _ := scram.SHA256.NewClient(testUser, testPass, "")
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	b64 := base64.StdEncoding.EncodeToString
	c.cmd("AUTH SCRAM-SHA-256 " + b64([]byte(first)))
	s1, _ := base64.StdEncoding.DecodeString(c.expect("+ *")[2:])
	final, _ := conv.Step(string(s1))
	c.cmd(b64([]byte(final)))
	c.expect("+ *")
	c.do("Zm9v", "-ERR expected an empty response to the server's final data")
	c.do("STAT", "-ERR command not valid in this state")
	if st := h.be.Stats(testUser); st.Logins != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLongAUTHLines: AUTH lines and SASL responses may exceed 512 octets
// (RFC 5034 §4) up to MaxSASLLine; beyond it, one -ERR and a close.
func TestLongAUTHLines(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	b64 := base64.StdEncoding.EncodeToString
	c := h.dial(t)
	c.expect("+OK *")
	long := strings.Repeat("x", 3000)
	line := "AUTH PLAIN " + b64([]byte("\x00mrose\x00"+long))
	if len(line) < 4000 {
		t.Fatalf("line of only %d octets", len(line))
	}
	c.do(line, pop3d.ErrAuthFailed.Error())
	c.do("AUTH LOGIN", "+ *")
	c.do(b64([]byte(long)), "+ *")
	c.do(b64([]byte(long)), pop3d.ErrAuthFailed.Error())
	c.do("USER "+strings.Repeat("u", 600), "-ERR line too long")
	c.closed()

	c = h.dial(t)
	c.expect("+OK *")
	c.do("AUTH PLAIN "+strings.Repeat("A", 9000), "-ERR line too long")
	c.closed()
}

// infoBackend records the ConnInfo of each login.
type infoBackend struct {
	*memdrop.Backend
	mu    sync.Mutex
	infos []pop3d.ConnInfo
}

func (b *infoBackend) Login(ctx context.Context, c *pop3d.ConnInfo, u, p string) (pop3d.Session, error) {
	b.mu.Lock()
	b.infos = append(b.infos, *c)
	b.mu.Unlock()
	return b.Backend.Login(ctx, c, u, p)
}

// TestConnInfo: the backend sees the connection id, addresses and TLS
// state, for implicit TLS and after STLS.
func TestConnInfo(t *testing.T) {
	be := &infoBackend{Backend: newBackend()}
	scfg, ccfg := testkit.TLSConfigs(t)
	srv := pop3d.New(&pop3d.Options{Backend: be, TLSConfig: scfg, Logger: discardLogger()})
	plainLn, _ := net.Listen("tcp", "127.0.0.1:0")
	tlsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(plainLn)
	go srv.ServeTLS(tlsLn)
	defer srv.Close()

	h := &harness{srv: srv, be: be.Backend, addr: plainLn.Addr().String(), tlsAddr: tlsLn.Addr().String(), clientTLS: ccfg}
	c := h.dial(t)
	c.expect("+OK *")
	c.do("USER mrose", "+OK *")
	c.do("PASS wrong", "-ERR *")
	c.do("STLS", "+OK *")
	c = tlsClient(c, h)
	c.do("USER mrose", "+OK *")
	c.do("PASS wrong", "-ERR *")
	c.do("QUIT", "+OK *")
	c = h.dialTLS(t)
	c.expect("+OK *")
	c.do("USER mrose", "+OK *")
	c.do("PASS wrong", "-ERR *")

	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.infos) != 3 {
		t.Fatalf("%d logins recorded", len(be.infos))
	}
	for i, wantTLS := range []bool{false, true, true} {
		in := be.infos[i]
		if (in.TLS != nil) != wantTLS || in.ID == "" || in.Remote == nil || in.Local == nil || in.Since.IsZero() {
			t.Errorf("login %d: %+v", i, in)
		}
		if in.TLS != nil && in.TLS.Version < 0x0303 {
			t.Errorf("login %d: TLS version %x", i, in.TLS.Version)
		}
	}
	if be.infos[0].ID != be.infos[1].ID || be.infos[1].ID == be.infos[2].ID {
		t.Errorf("connection ids %q %q %q", be.infos[0].ID, be.infos[1].ID, be.infos[2].ID)
	}
}
