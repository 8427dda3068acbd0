package pamauth

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type convStep struct {
	style msgStyle
	msg   string
	want  string // expected answer
}

// runConv feeds the steps of the authenticate phase, switches to the
// change phase and feeds the change steps, checking every answer.
func runConv(t *testing.T, c *conversation, auth, change []convStep) {
	t.Helper()
	for i, s := range auth {
		got, err := c.respond(s.style, s.msg)
		if err != nil || got != s.want {
			t.Fatalf("auth step %d %v %q: got %q, %v; want %q", i, s.style, s.msg, got, err, s.want)
		}
	}
	c.beginChange()
	for i, s := range change {
		got, err := c.respond(s.style, s.msg)
		if err != nil || got != s.want {
			t.Fatalf("change step %d %v %q: got %q, %v; want %q", i, s.style, s.msg, got, err, s.want)
		}
	}
}

func TestConversationPamMatrix(t *testing.T) {
	c := newConversation("old-pw", "new-pw", nil)
	runConv(t, c,
		[]convStep{{styleEchoOff, "Password: ", "old-pw"}},
		[]convStep{
			{styleEchoOff, "Old password: ", "old-pw"},
			{styleEchoOff, "New Password :", "new-pw"},
			{styleEchoOff, "Verify New Password :", "new-pw"},
		})
	if c.lastError != "" {
		t.Errorf("lastError = %q, want none", c.lastError)
	}
}

func TestConversationDebianPamUnix(t *testing.T) {
	// Not root, or an expired password: pam_unix asks for the old one.
	c := newConversation("old-pw", "new-pw", nil)
	runConv(t, c,
		[]convStep{{styleEchoOff, "Password: ", "old-pw"}},
		[]convStep{
			{styleInfo, "Changing password for alice.", ""},
			{styleEchoOff, "Current password: ", "old-pw"},
			{styleEchoOff, "New password: ", "new-pw"},
			{styleEchoOff, "Retype new password: ", "new-pw"},
		})

	// As root pam_unix asks only for the new password, twice.
	c = newConversation("old-pw", "new-pw", nil)
	runConv(t, c, nil, []convStep{
		{styleEchoOff, "New password: ", "new-pw"},
		{styleEchoOff, "Retype new password: ", "new-pw"},
	})
}

func TestConversationOtherModules(t *testing.T) {
	cases := map[string][]convStep{
		"sssd": {
			{styleEchoOff, "Current Password: ", "old-pw"},
			{styleEchoOff, "New Password: ", "new-pw"},
			{styleEchoOff, "Reenter new Password: ", "new-pw"},
		},
		"krb5": {
			{styleEchoOff, "Current Kerberos password: ", "old-pw"},
			{styleEchoOff, "New Kerberos password: ", "new-pw"},
			{styleEchoOff, "Repeat New Kerberos password: ", "new-pw"},
		},
		"old pam_unix": {
			{styleEchoOff, "(current) UNIX password: ", "old-pw"},
			{styleEchoOff, "Enter new UNIX password: ", "new-pw"},
			{styleEchoOff, "Retype new UNIX password: ", "new-pw"},
		},
		"unknown texts by position": {
			{styleEchoOff, "Enter login(LDAP) password: ", "old-pw"},
			{styleEchoOff, "Passphrase: ", "new-pw"},
			{styleEchoOff, "Once more: ", "new-pw"},
		},
		"repeat words without new": {
			{styleEchoOff, "Password: ", "old-pw"},
			{styleEchoOff, "Password: ", "new-pw"},
			{styleEchoOff, "Confirm: ", "new-pw"},
		},
		"echo on prompts": {
			{styleEchoOn, "Old password: ", "old-pw"},
			{styleEchoOn, "New password: ", "new-pw"},
		},
		"new word wins over current": {
			{styleEchoOff, "New password (not the current one): ", "new-pw"},
			{styleEchoOff, "Verify current password: ", "old-pw"},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			runConv(t, newConversation("old-pw", "new-pw", nil), nil, steps)
		})
	}
}

func TestConversationAuthPhaseAlwaysOld(t *testing.T) {
	c := newConversation("old-pw", "new-pw", nil)
	runConv(t, c, []convStep{
		{styleEchoOff, "Password: ", "old-pw"},
		{styleEchoOff, "New password: ", "old-pw"}, // still authenticating
		{styleEchoOn, "Token: ", "old-pw"},
		{styleError, "Authentication failed", ""},
	}, nil)
	if c.lastError != "" {
		t.Errorf("an auth-phase error was kept as policy reason: %q", c.lastError)
	}
}

func TestConversationKeepsLastChangeError(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newConversation("old-pw", "new-pw", log)
	runConv(t, c, nil, []convStep{
		{styleEchoOff, "New password: ", "new-pw"},
		{styleError, "BAD PASSWORD: it is WAY too short", ""},
		{styleEchoOff, "New password: ", "new-pw"},
		{styleError, "BAD PASSWORD: The password is shorter than 8 characters", ""},
		{styleInfo, "some info", ""},
	})
	if want := "BAD PASSWORD: The password is shorter than 8 characters"; c.lastError != want {
		t.Errorf("lastError = %q, want %q", c.lastError, want)
	}
	out := logBuf.String()
	if !strings.Contains(out, "WAY too short") || !strings.Contains(out, "some info") {
		t.Errorf("messages not logged: %s", out)
	}
	if strings.Contains(out, "old-pw") || strings.Contains(out, "new-pw") {
		t.Errorf("a password reached the log: %s", out)
	}
}

func TestConversationRefusesBinaryPrompts(t *testing.T) {
	c := newConversation("old-pw", "new-pw", nil)
	if got, err := c.respond(styleOther, "\x01\x02"); !errors.Is(err, errUnsupportedMsg) || got != "" {
		t.Fatalf("respond(other) = %q, %v; want errUnsupportedMsg", got, err)
	}
}

func TestPolicyMessage(t *testing.T) {
	cases := []struct{ msg, want string }{
		{"BAD PASSWORD: The password is shorter than 8 characters", "BAD PASSWORD: The password is shorter than 8 characters"},
		{"  You must wait longer to change your password\n", "You must wait longer to change your password"},
		{"bad\r\nline\x00x", "bad line x"},
		{"", "The new password was refused."},
		{"\n\t", "The new password was refused."},
		{"BAD PASSWORD: new-pw is a dictionary word", "The new password was refused."},
		{"old-pw and more", "The new password was refused."},
		{strings.Repeat("é", 300), strings.Repeat("é", 100)},
	}
	for _, c := range cases {
		if got := policyMessage(c.msg, "old-pw", "new-pw"); got != c.want {
			t.Errorf("policyMessage(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.AuthService != "popadm-pop3" || o.PasswdService != "popadm-passwd" || o.MinUID != 1000 ||
		len(o.DenyUsers) != 1 || o.DenyUsers[0] != "root" || o.Lookup == nil || o.MaxConcurrent != 8 || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
	o = Options{MinUID: -1, DenyUsers: []string{}}.withDefaults()
	if o.MinUID != -1 || len(o.DenyUsers) != 0 {
		t.Fatalf("explicit values overridden: %+v", o)
	}
}

func TestLookupSystemUser(t *testing.T) {
	uid, _, err := lookupSystemUser("root")
	if err != nil {
		t.Skipf("no root entry in this system's user database: %v", err)
	}
	if uid != 0 {
		t.Errorf("root uid = %d", uid)
	}
	if _, _, err := lookupSystemUser("popadm-no-such-user-x9"); err == nil {
		t.Error("lookup of a missing user succeeded")
	}
}

func TestValidInput(t *testing.T) {
	for _, n := range []string{"", "a\x00b", "a\nb", strings.Repeat("a", 257)} {
		if validName(n) {
			t.Errorf("validName(%q) = true", n)
		}
	}
	if !validName("alice") || !validName("alice@example.com") {
		t.Error("validName refuses a plain name")
	}
	for _, p := range []string{"", "se\x00cret", strings.Repeat("a", 513)} {
		if validSecret(p) {
			t.Errorf("validSecret(%q) = true", p)
		}
	}
	if !validSecret("with spaces and \t tab") || !validSecret(strings.Repeat("a", 512)) {
		t.Error("validSecret refuses a valid password")
	}
}
