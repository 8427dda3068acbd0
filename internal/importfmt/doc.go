// Package importfmt reads and writes the account files popadm imports and
// exports: Dovecot passwd-file, Apache htpasswd and CSV.
//
// The parsers are pure: they read an io.Reader, touch nothing else, and
// return every good row as a Record together with one LineError per bad row,
// so a caller can report all problems of a file at once and decide whether
// to import anything. They never echo a password or hash in an error.
//
// Stored hashes keep Dovecot's "{SCHEME}value" form. A bare crypt(3) string
// ($1$, $2a$/$2b$/$2y$, $5$, $6$, $y$, $argon2i$, $argon2id$, 13-character DES)
// is recognised and given its scheme, see NormalizeHash. Whether a scheme is
// actually supported is decided by the caller (the password-scheme
// registry), not here.
//
// The writers produce files the parsers read back: WriteDovecotPasswd writes
// a working Dovecot passwd-file passdb ("user:{SCHEME}value::::::").
package importfmt
