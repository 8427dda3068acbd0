package importfmt

import (
	"io"
	"strings"
)

// ParseDovecotPasswd reads a Dovecot passwd-file
// ("user:password:uid:gid:gecos:home:shell:extra fields"). Empty lines and
// lines starting with '#' are skipped. Only the user and password fields
// are required. The gecos field becomes DisplayName; of the extra fields,
// "nologin" sets Disabled and "userdb_mail=maildir:PATH" sets Maildrop;
// uid, gid, home, shell and other extra fields are ignored. A row with an
// empty password (such as a "nopassword" account) is an error.
func ParseDovecotPasswd(r io.Reader, opts Options) (*Result, error) {
	res := &Result{}
	err := eachLine(r, func(n int, line string, tooLong bool) {
		if tooLong {
			res.fail(n, "", "line longer than %d bytes", MaxLineBytes)
			return
		}
		if skipLine(line) {
			return
		}
		f := strings.SplitN(line, ":", 8)
		if len(f) < 2 {
			// Not echoed: a line without a separator may be a password
			// or a hash wrapped onto a line of its own.
			res.fail(n, "", "%s", noSeparator)
			return
		}
		user := f[0]
		if bad := checkUser(user); bad != "" {
			res.fail(n, "", "%s", bad)
			return
		}
		if f[1] == "" {
			if len(f) == 8 && hasField(f[7], "nopassword") {
				res.fail(n, user, "nopassword accounts are not supported")
				return
			}
			res.fail(n, user, "missing password field")
			return
		}
		h, err := normalizeField(f[1], opts)
		if err != nil {
			res.fail(n, user, "%s", hashErrorText(err))
			return
		}
		rec := Record{Line: n, User: user, Hash: h}
		if len(f) > 4 {
			rec.DisplayName = strings.TrimSpace(f[4])
			if hasControl(rec.DisplayName) {
				res.fail(n, user, "control character in gecos field")
				return
			}
		}
		if len(f) == 8 {
			if strings.ContainsFunc(f[7], func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
				res.fail(n, user, "control character in extra fields")
				return
			}
			for _, x := range strings.Fields(f[7]) {
				switch {
				case x == "nologin":
					rec.Disabled = true
				case strings.HasPrefix(x, "userdb_mail=maildir:"):
					p := strings.TrimPrefix(x, "userdb_mail=maildir:")
					if i := strings.IndexByte(p, ':'); i >= 0 {
						p = p[:i]
					}
					rec.Maildrop = p
				}
			}
		}
		res.Records = append(res.Records, rec)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// noSeparator is the error for a line without a ':' after the user name.
const noSeparator = "no ':' separator: expected user:password"

// skipLine reports whether a line is blank or a comment.
func skipLine(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || t[0] == '#'
}

// hasField reports whether the space-separated list holds word.
func hasField(list, word string) bool {
	for _, x := range strings.Fields(list) {
		if x == word {
			return true
		}
	}
	return false
}

// checkUser returns why a user field is unusable, or "".
func checkUser(u string) string {
	switch {
	case u == "":
		return "empty user name"
	case hasControl(u):
		return "control character in user name"
	case strings.TrimSpace(u) != u:
		return "user name has surrounding spaces"
	}
	return ""
}
