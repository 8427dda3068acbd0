package pamauth

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf8"
)

// msgStyle is the style of a PAM conversation message, independent of the
// cgo binding so the state machine builds and is tested without libpam.
type msgStyle int

// Message styles (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_ERROR_MSG,
// PAM_TEXT_INFO, anything else).
const (
	styleEchoOff msgStyle = iota + 1
	styleEchoOn
	styleError
	styleInfo
	styleOther
)

func (s msgStyle) String() string {
	switch s {
	case styleEchoOff:
		return "prompt-echo-off"
	case styleEchoOn:
		return "prompt-echo-on"
	case styleError:
		return "error-msg"
	case styleInfo:
		return "text-info"
	}
	return "unknown"
}

// convPhase is the PAM call the conversation currently serves.
type convPhase int

const (
	phaseAuth   convPhase = iota // pam_authenticate, pam_acct_mgmt
	phaseChange                  // pam_chauthtok
)

// errUnsupportedMsg refuses a message style the conversation cannot answer
// (binary prompts); PAM reports it as PAM_CONV_ERR.
var errUnsupportedMsg = errors.New("pamauth: unsupported conversation message")

// Prompt classification for pam_chauthtok, in this order: a prompt that
// names the new password, one that names the old password, one that asks
// to repeat something (which is always the new password), else position.
//
//	pam_unix (Debian):  "Current password: ", "New password: ", "Retype new password: "
//	pam_matrix:         "Old password: ", "New Password :", "Verify New Password :"
//	sssd:               "Current Password: ", "New Password: ", "Reenter new Password: "
//	pam_krb5:           "Current Kerberos password: ", "New Kerberos password: ", "Repeat New Kerberos password: "
var (
	promptNew   = regexp.MustCompile(`(?i)\bnew`)
	promptOld   = regexp.MustCompile(`(?i)\b(old|current|existing)\b`)
	promptAgain = regexp.MustCompile(`(?i)\b(retype|re-type|repeat|again|verify|confirm|re-?enter)`)
)

// conversation answers PAM's questions for one transaction. During
// pam_authenticate (and pam_acct_mgmt) every prompt gets the old password.
// During pam_chauthtok a prompt gets the old or the new password by its
// text (see promptNew, promptOld, promptAgain) and, for a text that says
// neither, by position: the first prompt of the change is the old password
// (modules that need it ask for it first), every later one the new
// password. Error and info messages are answered with "" and logged; the
// last error message of the change phase is kept as the probable reason of
// a refused new password.
//
// A conversation is used by one transaction on one goroutine; it is not
// safe for concurrent use.
type conversation struct {
	oldPw, newPw string
	phase        convPhase
	asked        int    // prompts answered in phaseChange
	lastError    string // last PAM_ERROR_MSG of phaseChange
	log          *slog.Logger
}

func newConversation(oldPw, newPw string, log *slog.Logger) *conversation {
	return &conversation{oldPw: oldPw, newPw: newPw, log: log}
}

// beginChange switches to the pam_chauthtok rules.
func (c *conversation) beginChange() {
	c.phase, c.asked, c.lastError = phaseChange, 0, ""
}

// respond answers one message. The answer is never logged.
func (c *conversation) respond(style msgStyle, msg string) (string, error) {
	switch style {
	case styleEchoOff, styleEchoOn:
		if c.phase == phaseAuth {
			c.debug("prompt", style, msg, "old")
			return c.oldPw, nil
		}
		which := c.classify(msg)
		c.asked++
		c.debug("prompt", style, msg, which)
		if which == "old" {
			return c.oldPw, nil
		}
		return c.newPw, nil
	case styleError:
		if c.phase == phaseChange {
			c.lastError = msg
		}
		c.note(style, msg)
		return "", nil
	case styleInfo:
		c.note(style, msg)
		return "", nil
	}
	if c.log != nil {
		c.log.Warn("pamauth: unsupported conversation message", "style", int(style))
	}
	return "", errUnsupportedMsg
}

// classify says which password a pam_chauthtok prompt asks for.
func (c *conversation) classify(prompt string) string {
	switch {
	case promptNew.MatchString(prompt):
		return "new"
	case promptOld.MatchString(prompt):
		return "old"
	case promptAgain.MatchString(prompt):
		return "new"
	case c.asked == 0:
		return "old"
	}
	return "new"
}

func (c *conversation) debug(what string, style msgStyle, msg, answer string) {
	if c.log != nil {
		c.log.Debug("pamauth: conversation "+what, "style", style.String(), "text", clean(msg), "answered", answer)
	}
}

func (c *conversation) note(style msgStyle, msg string) {
	if c.log != nil {
		c.log.Info("pamauth: module message", "style", style.String(), "text", clean(msg))
	}
}

// policyMessage turns the last error message of a failed pam_chauthtok into
// the text shown to the user: control characters removed, space trimmed,
// at most 200 bytes, and replaced by a generic text when empty or when it
// contains either password.
func policyMessage(msg, oldPw, newPw string) string {
	const generic = "The new password was refused."
	m := clean(msg)
	for _, pw := range []string{oldPw, newPw} {
		if pw != "" && (strings.Contains(msg, pw) || strings.Contains(m, pw) || strings.Contains(m, clean(pw))) {
			return generic
		}
	}
	if m == "" {
		return generic
	}
	return m
}

// clean makes a module message fit for one log or reply line.
func clean(msg string) string {
	var b strings.Builder
	for _, r := range msg {
		switch {
		case r == utf8.RuneError:
			b.WriteRune('?')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.Join(strings.Fields(b.String()), " ")
	for len(s) > 200 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
