package poppassd

import (
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line, verb, arg string
		hasArg          bool
	}{
		{"user alice", verbUSER, "alice", true},
		{"USER alice", verbUSER, "alice", true},
		{"User alice@example.com", verbUSER, "alice@example.com", true},
		{"pass  two leading", verbPASS, " two leading", true},
		{"pass trailing  ", verbPASS, "trailing  ", true},
		{"pass a b c", verbPASS, "a b c", true},
		{"pass ", verbPASS, "", true},
		{"pass", verbPASS, "", false},
		{"NEWPASS x", verbNEWPASS, "x", true},
		{"newpass\tx", "", "", false},
		{"quit", verbQUIT, "", false},
		{"QUIT now", verbQUIT, "now", true},
		{"useralice", "", "", false},
		{"uſer alice", "", "alice", true}, // U+017F folds to s in Unicode, not in ASCII
		{" user alice", "", "user alice", true},
		{"", "", "", false},
		{"noop", "", "", false},
	} {
		c := parseCommand(tc.line)
		if c.verb != tc.verb || c.arg != tc.arg || c.hasArg != tc.hasArg {
			t.Errorf("parseCommand(%q) = verb %q arg %q hasArg %v, want %q %q %v",
				tc.line, c.verb, c.arg, c.hasArg, tc.verb, tc.arg, tc.hasArg)
		}
		if c.raw() != tc.line {
			t.Errorf("raw() = %q, want %q", c.raw(), tc.line)
		}
	}
}

func TestCheckUsername(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", ""},
		{"alice@example.com", ""},
		{"jürgen", ""},
		{strings.Repeat("a", 256), ""},
		{strings.Repeat("a", 257), "Username too long (max 256 bytes)."},
		{"", "Username required."},
		{"al ice", "Invalid username."},
		{"alice ", "Invalid username."},
		{"al\x00ice", "Invalid username."},
		{"al\tice", "Invalid username."},
		{"al\u0085ice", "Invalid username."}, // C1 control
		{"\xffalice", "Invalid username."},
	} {
		if got := checkUsername(tc.in, maxUsernameLen); got != tc.want {
			t.Errorf("checkUsername(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"secret", ""},
		{" spaces inside and around ", ""},
		{"Grüße", ""},
		{strings.Repeat("p", 256), ""},
		{strings.Repeat("p", 257), "Password too long (max 256 bytes)."},
		{"", "Password required."},
		{"a\x00b", "Password contains control characters."},
		{"a\rb", "Password contains control characters."},
		{"a\nb", "Password contains control characters."},
		{"a\tb", "Password contains control characters."},
		{"a\x1bb", "Password contains control characters."},
		{"a\x7fb", "Password contains control characters."},
		{"caf\xe9", "Password is not valid UTF-8."},
	} {
		if got := checkPassword(tc.in, "Password", 256); got != tc.want {
			t.Errorf("checkPassword(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPolicyText(t *testing.T) {
	for _, tc := range []struct{ msg, pw, want string }{
		{"Password must have at least 8 characters.", "short", "Password must have at least 8 characters."},
		{"two\r\nlines\x00here", "x", "two lines here"},
		{"  \t ", "x", textPolicy},
		{"", "x", textPolicy},
		{"hunter22 is in the dictionary", "hunter22", textPolicy},
		{"invalid \xff utf8", "x", "invalid utf8"},
		{strings.Repeat("é", 300), "x", strings.Repeat("é", 200)},
	} {
		if got := policyText(tc.msg, tc.pw); got != tc.want {
			t.Errorf("policyText(%q, %q) = %q, want %q", tc.msg, tc.pw, got, tc.want)
		}
	}
}

func TestCleanVersion(t *testing.T) {
	for in, want := range map[string]string{
		"":                "0",
		"1.0":             "1.0",
		"v0.3.1":          "0.3.1",
		"v0.3.1-2-gdead":  "0.3.1-2-gdead",
		"1.0 (beta)\r\n":  "1.0beta",
		"dev":             "dev",
		"vv":              "v",
		"1.0+dirty_build": "1.0+dirty_build",
	} {
		if got := cleanVersion(in); got != want {
			t.Errorf("cleanVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
