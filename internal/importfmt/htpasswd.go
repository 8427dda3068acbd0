package importfmt

import (
	"io"
	"strings"
)

// ParseHtpasswd reads an Apache htpasswd file ("user:hash" per line).
// bcrypt ($2y$), SHA-crypt ($5$, $6$), MD5-crypt ($1$), DES crypt and
// "{SHA}base64" entries are recognised; Apache's own "$apr1$" MD5 is
// reported as unsupported. Empty lines and '#' comments are skipped.
func ParseHtpasswd(r io.Reader, opts Options) (*Result, error) {
	res := &Result{}
	err := eachLine(r, func(n int, line string, tooLong bool) {
		if tooLong {
			res.fail(n, "", "line longer than %d bytes", MaxLineBytes)
			return
		}
		if skipLine(line) {
			return
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			// The whole line would be the "user": it may as well be a
			// password or a hash wrapped onto a line of its own, so it
			// is not echoed.
			res.fail(n, "", "%s", noSeparator)
			return
		}
		if bad := checkUser(user); bad != "" {
			res.fail(n, "", "%s", bad)
			return
		}
		if hash == "" {
			res.fail(n, user, "missing password field")
			return
		}
		h, err := normalizeField(hash, opts)
		if err != nil {
			res.fail(n, user, "%s", hashErrorText(err))
			return
		}
		res.Records = append(res.Records, Record{Line: n, User: user, Hash: h})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
