package pop3d_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// saslMechs are the mechanisms FuzzAUTHExchange chooses from; the last one
// is not offered.
var saslMechs = []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "XFUZZ"}

// FuzzAUTHExchange sends AUTH with a mechanism chosen by the input, an
// optional initial response and up to three continuation lines. A line
// (or initial response) of "@user", "@pass", "@plain", "@cram" or
// "@scram" is replaced by the correct client data for the test account,
// computed from the server's last challenge, so that the fuzzer reaches
// successful exchanges too. When the server asks for more than the input
// gives, the test cancels with "*".
//
// Invariants: no panic; every server line is "+ <base64>", "+OK ..." or
// "-ERR ..."; the exchange ends with exactly one status line; after "*"
// that line is -ERR; the session is in TRANSACTION after +OK (STAT
// succeeds) and stays in AUTHORIZATION otherwise (STAT fails, USER is
// accepted); the maildrop lock is released at the end.
func FuzzAUTHExchange(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f.Add(uint8(0), true, b64("\x00"+testUser+"\x00"+testPass), "", "", "")
	f.Add(uint8(0), true, "@plain", "", "", "")
	f.Add(uint8(0), false, "", "@plain", "", "")
	f.Add(uint8(0), true, "=", "", "", "")
	f.Add(uint8(0), false, "", b64("\x00"+testUser+"\x00wrong"), "", "")
	f.Add(uint8(0), false, "", "*", "", "")
	f.Add(uint8(1), false, "", b64(testUser), b64(testPass), "")
	f.Add(uint8(1), true, b64(testUser), b64(testPass), "", "")
	f.Add(uint8(1), false, "", "@user", "@pass", "")
	f.Add(uint8(1), false, "", "@user", "*", "")
	f.Add(uint8(2), false, "", "@cram", "", "")
	f.Add(uint8(2), false, "", b64(testUser+" 00000000000000000000000000000000"), "", "")
	f.Add(uint8(2), true, "@cram", "", "", "")
	f.Add(uint8(3), false, "", "@scram", "@scram", "@scram")
	f.Add(uint8(3), true, "@scram", "@scram", "@scram", "")
	f.Add(uint8(3), false, "", "@scram", "@scram", "*")
	f.Add(uint8(3), false, "", b64("n,,n=mrose,r=abc"), "!!!", "")
	f.Add(uint8(3), true, b64("p=tls-unique,,n=mrose,r=abc"), "", "", "")
	f.Add(uint8(4), true, "=", "", "", "")
	f.Add(uint8(0x12), false, "", "@cram", "", "")
	f.Fuzz(func(t *testing.T, sel uint8, hasIR bool, ir, l1, l2, l3 string) {
		for _, s := range []string{ir, l1, l2, l3} {
			if strings.ContainsAny(s, "\r\n") || len(s) > 1000 {
				return
			}
		}
		mech := saslMechs[int(sel&0x0f)%len(saslMechs)]
		if sel&0x10 != 0 {
			mech = strings.ToLower(mech)
		}
		runAUTHExchange(t, mech, hasIR, ir, []string{l1, l2, l3})
	})
}

// saslClient computes the "@" replacement lines of FuzzAUTHExchange.
type saslClient struct {
	t     *testing.T
	scram *scram.ClientConversation
}

// resolve returns the line to send for s given the decoded last
// challenge.
func (c *saslClient) resolve(s string, challenge []byte) string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	switch s {
	case "@user":
		return b64(testUser)
	case "@pass":
		return b64(testPass)
	case "@plain":
		return b64("\x00" + testUser + "\x00" + testPass)
	case "@cram":
		mac := hmac.New(md5.New, []byte(testPass))
		mac.Write(challenge)
		return b64(testUser + " " + hex.EncodeToString(mac.Sum(nil)))
	case "@scram":
		if c.scram == nil {
			cl, err := scram.SHA256.NewClient(testUser, testPass, "")
			if err != nil {
				c.t.Fatal(err)
			}
			c.scram = cl.NewConversation()
		}
		out, err := c.scram.Step(string(challenge))
		if err != nil {
			return "*"
		}
		return b64(out)
	}
	return s
}

// runAUTHExchange runs one exchange, checks the invariants and returns the
// exchange's status line.
func runAUTHExchange(t *testing.T, mech string, hasIR bool, ir string, lines []string) string {
	be := newBackend()
	srv := pop3d.New(&pop3d.Options{Backend: be, Logger: discardLogger(), SASLMechanisms: memdrop.Mechanisms, AllowInsecureAuth: true})
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(context.Background(), a); close(done) }()

	// One writer goroutine keeps the order of the lines; the pipe is
	// synchronous, so a server that stops reading cannot block the test.
	out := make(chan string, 16)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for s := range out {
			_ = b.SetWriteDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(b, s+"\r\n"); err != nil {
				for range out {
				}
				return
			}
		}
	}()
	defer func() {
		close(out)
		b.Close()
		<-writerDone
		select {
		case <-done:
		case <-time.After(ioTimeout):
			t.Fatal("session did not end")
		}
		if st := be.Stats(testUser); st.Locked || st.OpenReaders != 0 || st.Closes != st.Logins {
			t.Fatalf("maildrop not released: %+v", st)
		}
	}()
	r := bufio.NewReader(b)
	read := func() (string, error) {
		_ = b.SetReadDeadline(time.Now().Add(ioTimeout))
		l, err := r.ReadString('\n')
		if err != nil {
			return l, err
		}
		if !strings.HasSuffix(l, "\r\n") {
			t.Fatalf("line without CRLF: %q", l)
		}
		return strings.TrimSuffix(l, "\r\n"), nil
	}
	if l, err := read(); err != nil || !strings.HasPrefix(l, "+OK") {
		t.Fatalf("greeting %q, %v", l, err)
	}

	cl := &saslClient{t: t}
	cmd := "AUTH " + mech
	if hasIR {
		cmd += " " + cl.resolve(ir, nil)
	}
	out <- cmd
	cancelled := false
	var status string
	for round := 0; ; round++ {
		l, err := read()
		if err != nil {
			t.Fatalf("%q: no status line after %d rounds: %v", cmd, round, err)
		}
		if strings.HasPrefix(l, "+OK") || strings.HasPrefix(l, "-ERR") {
			status = l
			break
		}
		enc, ok := strings.CutPrefix(l, "+ ")
		if !ok {
			t.Fatalf("%q: server line %q is neither a challenge nor a status", cmd, l)
		}
		challenge, err := base64.StdEncoding.Strict().DecodeString(enc)
		if err != nil {
			t.Fatalf("%q: challenge %q is not base64: %v", cmd, l, err)
		}
		if round > 20 {
			t.Fatalf("%q: endless exchange", cmd)
		}
		next := "*"
		if round < len(lines) && !cancelled {
			next = cl.resolve(lines[round], challenge)
		}
		if cancelled {
			t.Fatalf("%q: challenge %q after the cancel", cmd, l)
		}
		cancelled = next == "*"
		out <- next
	}
	ok := strings.HasPrefix(status, "+OK")
	if cancelled && ok {
		t.Fatalf("%q: cancelled exchange answered %q", cmd, status)
	}
	if strings.HasPrefix(status, "-ERR line too long") {
		return status
	}
	if ok {
		out <- "STAT"
		if l, err := read(); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("%q: STAT after %q: %q, %v; want +OK (TRANSACTION)", cmd, status, l, err)
		}
		out <- "QUIT"
		if l, err := read(); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("%q: QUIT: %q, %v", cmd, l, err)
		}
		if l, err := read(); err == nil {
			t.Fatalf("%q: data after QUIT: %q", cmd, l)
		}
		return status
	}
	// Still in AUTHORIZATION, and exactly one status line was sent:
	// STAT fails, then USER is accepted.
	out <- "STAT"
	if l, err := read(); err != nil || !strings.HasPrefix(l, "-ERR") {
		t.Fatalf("%q: STAT after %q: %q, %v; want -ERR (AUTHORIZATION)", cmd, status, l, err)
	}
	out <- "USER " + testUser
	if l, err := read(); err != nil || !strings.HasPrefix(l, "+OK") {
		t.Fatalf("%q: USER after %q: %q, %v; want +OK", cmd, status, l, err)
	}
	return status
}

// TestAUTHExchangeValidSeeds checks that the valid exchanges of the seed
// corpus of FuzzAUTHExchange log in, and that wrong or cancelled ones do
// not.
func TestAUTHExchangeValidSeeds(t *testing.T) {
	for _, c := range []struct {
		mech  string
		hasIR bool
		ir    string
		lines []string
		ok    bool
	}{
		{"PLAIN", true, "@plain", nil, true},
		{"PLAIN", false, "", []string{"@plain"}, true},
		{"PLAIN", false, "", []string{"*"}, false},
		{"LOGIN", false, "", []string{"@user", "@pass"}, true},
		{"LOGIN", false, "", []string{"@user", "*"}, false},
		{"CRAM-MD5", false, "", []string{"@cram"}, true},
		{"cram-md5", false, "", []string{"@cram"}, true},
		{"CRAM-MD5", true, "@cram", nil, false},
		{"SCRAM-SHA-256", false, "", []string{"@scram", "@scram", "@scram"}, true},
		{"SCRAM-SHA-256", true, "@scram", []string{"@scram", "@scram"}, true},
		{"SCRAM-SHA-256", false, "", []string{"@scram", "@scram", "*"}, false},
		{"XFUZZ", true, "=", nil, false},
	} {
		status := runAUTHExchange(t, c.mech, c.hasIR, c.ir, c.lines)
		if got := strings.HasPrefix(status, "+OK"); got != c.ok {
			t.Errorf("AUTH %s %v %q %q: %q, want success %v", c.mech, c.hasIR, c.ir, c.lines, status, c.ok)
		}
	}
}
