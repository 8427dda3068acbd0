package pwscheme

import (
	"slices"
	"strings"
)

// Login mechanism names used in Info.Mechs.
const (
	// MechPlain covers every mechanism that sends the password itself:
	// USER/PASS, AUTH PLAIN and AUTH LOGIN.
	MechPlain = "plain"
	// MechAPOP is RFC 1939 APOP; it needs the cleartext.
	MechAPOP = "apop"
	// MechCRAMMD5 is RFC 2195 AUTH CRAM-MD5.
	MechCRAMMD5 = "cram-md5"
	// MechSCRAMSHA1 is RFC 5802 AUTH SCRAM-SHA-1.
	MechSCRAMSHA1 = "scram-sha-1"
	// MechSCRAMSHA256 is RFC 7677 AUTH SCRAM-SHA-256.
	MechSCRAMSHA256 = "scram-sha-256"
)

// Info describes one password scheme.
type Info struct {
	// Name is the canonical scheme name.
	Name string
	// Generate reports whether Generate can write values of this scheme.
	Generate bool
	// Verify reports whether Verify can check values of this scheme.
	Verify bool
	// PlainEquivalent reports whether a stolen value logs in as well as
	// the password would (cleartext, CRAM-MD5 and DIGEST-MD5 contexts).
	PlainEquivalent bool
	// Weak reports whether the scheme should not be used for new
	// passwords: plaintext equivalents, unsalted or single-iteration fast
	// hashes, and legacy crypt methods.
	Weak bool
	// Mechs lists the login mechanisms a stored value of this scheme can
	// serve: "plain" (USER/PASS, AUTH PLAIN, AUTH LOGIN) for every
	// verifiable scheme, plus "cram-md5", "scram-sha-1", "scram-sha-256"
	// and "apop" where the stored value allows them.
	Mechs []string
	// Description is a one-line human readable description.
	Description string
}

// verifier checks passwords against one parsed stored value.
type verifier interface {
	// match reports whether password (and user, for DIGEST-MD5) matches.
	match(password, user string) (bool, error)
	// work returns the cost parameters of the stored value.
	work() work
}

// work holds the cost parameters of a stored value; zero means "not
// applicable".
type work struct {
	rounds  int    // SHA-crypt / PBKDF2 rounds, SCRAM iterations
	cost    int    // bcrypt cost (log2 of the rounds)
	memKiB  uint32 // argon2 / yescrypt memory
	time    uint32 // argon2 passes
	threads uint32 // argon2 lanes
}

// def is the internal description of a scheme.
type def struct {
	name    string
	aliases []string
	// enc is the default encoding of the value ("" for text values).
	enc string
	// rawLen is the fixed decoded length, 0 if variable.
	rawLen  int
	weak    bool
	plainEq bool
	mechs   []string
	desc    string
	// parse checks the decoded value and returns its verifier; nil for
	// schemes that are known but cannot be verified.
	parse func(raw []byte) (verifier, error)
	// gen returns the value (without "{SCHEME}") for a new password; nil
	// for schemes that are not generated.
	gen func(password string, p Params) (string, error)
	// noGen is the reason given when gen is nil.
	noGen string
}

// info converts d to its public description.
func (d *def) info() Info {
	return Info{
		Name:            d.name,
		Generate:        d.gen != nil,
		Verify:          d.parse != nil,
		PlainEquivalent: d.plainEq,
		Weak:            d.weak,
		Mechs:           slices.Clone(d.mechs),
		Description:     d.desc,
	}
}

// schemeNames returns every canonical scheme name, sorted.
func schemeNames() []string {
	return []string{
		"ARGON2I", "ARGON2ID", "BLF-CRYPT", "CRAM-MD5", "CRYPT", "DES-CRYPT",
		"DIGEST-MD5", "LDAP-MD5", "MD5-CRYPT", "OTP", "PBKDF2", "PLAIN",
		"PLAIN-MD4", "PLAIN-MD5", "PLAIN-TRUNC", "SCRAM-SHA-1", "SCRAM-SHA-256",
		"SHA", "SHA256", "SHA256-CRYPT", "SHA512", "SHA512-CRYPT", "SMD5",
		"SSHA", "SSHA256", "SSHA512",
	}
}

// canonicalName resolves a scheme name (any case, no encoding suffix) to
// its canonical name. value is used only for the ambiguous "MD5" alias,
// which Dovecot reads as MD5-CRYPT when the value starts with "$1$" and as
// PLAIN-MD5 otherwise; with an empty value it means MD5-CRYPT.
func canonicalName(name, value string) (string, bool) {
	n := strings.ToUpper(name)
	switch n {
	case "CLEAR", "CLEARTEXT":
		return "PLAIN", true
	case "SHA1":
		return "SHA", true
	case "HMAC-MD5":
		return "CRAM-MD5", true
	case "MD5":
		if value == "" || strings.HasPrefix(value, "$1$") {
			return "MD5-CRYPT", true
		}
		return "PLAIN-MD5", true
	}
	if _, found := slices.BinarySearch(schemeNames(), n); found {
		return n, true
	}
	return "", false
}

// lookupDef resolves name (see canonicalName) and returns its definition.
func lookupDef(name, value string) (*def, bool) {
	c, ok := canonicalName(name, value)
	if !ok {
		return nil, false
	}
	return defFor(c), true
}

// Schemes returns the description of every known scheme, sorted by name.
func Schemes() []Info {
	names := schemeNames()
	out := make([]Info, 0, len(names))
	for _, n := range names {
		out = append(out, defFor(n).info())
	}
	return out
}

// Lookup returns the description of scheme. The name is case-insensitive,
// aliases are resolved and an encoding suffix (".HEX", ".B64") is ignored.
func Lookup(scheme string) (Info, bool) {
	base, _, err := splitEncoding(scheme)
	if err != nil {
		return Info{}, false
	}
	d, ok := lookupDef(base, "")
	if !ok {
		return Info{}, false
	}
	return d.info(), true
}

// defFor returns the definition of a canonical scheme name. It panics on a
// name not returned by schemeNames, which is a programming error.
func defFor(name string) *def {
	switch name {
	case "PLAIN":
		return &def{name: name, aliases: []string{"CLEAR", "CLEARTEXT"}, weak: true, plainEq: true,
			mechs: []string{MechPlain, MechAPOP, MechCRAMMD5, MechSCRAMSHA1, MechSCRAMSHA256},
			desc:  "cleartext password (aliases CLEAR, CLEARTEXT); needed only for APOP",
			parse: parsePlain, gen: genPlain}
	case "PLAIN-TRUNC":
		return &def{name: name, weak: true, plainEq: true, mechs: []string{MechPlain},
			desc:  "cleartext password stored as <length>-<password>, possibly truncated",
			parse: parsePlainTrunc, noGen: "legacy cleartext format"}
	case "CRYPT":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "crypt(3) string dispatched by prefix: $2?$ bcrypt, $1$ MD5-crypt, $5$/$6$ SHA-crypt, $y$ yescrypt, $argon2i(d)$",
			parse: parseCrypt, noGen: "use BLF-CRYPT, SHA512-CRYPT or ARGON2ID"}
	case "DES-CRYPT":
		return &def{name: name, weak: true, mechs: nil,
			desc:  "traditional 13-character DES crypt (not supported)",
			noGen: "DES crypt is not supported"}
	case "MD5-CRYPT":
		return &def{name: name, aliases: []string{"MD5"}, weak: true, mechs: []string{MechPlain},
			desc:  "$1$ MD5-crypt (alias MD5), legacy",
			parse: parseMD5Crypt, noGen: "MD5-crypt is a weak legacy scheme"}
	case "SHA256-CRYPT":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "$5$ SHA-256 crypt, default 5000 rounds",
			parse: parseSHACrypt(name, "5"), gen: genSHACrypt(name)}
	case "SHA512-CRYPT":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "$6$ SHA-512 crypt, default 5000 rounds",
			parse: parseSHACrypt(name, "6"), gen: genSHACrypt(name)}
	case "BLF-CRYPT":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "bcrypt ($2a$/$2b$/$2y$), default cost 10 here (doveadm uses 5)",
			parse: parseBcrypt(name), gen: genBcrypt}
	case "ARGON2I":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "Argon2i PHC string, default m=65536 KiB t=3 p=1 here",
			parse: parseArgon2(name, "argon2i"), gen: genArgon2("argon2i")}
	case "ARGON2ID":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "Argon2id PHC string, default m=65536 KiB t=3 p=1",
			parse: parseArgon2(name, "argon2id"), gen: genArgon2("argon2id")}
	case "PBKDF2":
		return &def{name: name, mechs: []string{MechPlain},
			desc:  "PBKDF2-HMAC-SHA1 $1$salt$rounds$hex, default 5000 rounds",
			parse: parsePBKDF2, gen: genPBKDF2}
	case "SHA":
		return digestDef(name, []string{"SHA1"}, "unsalted SHA-1 (alias SHA1), base64", false)
	case "SHA256":
		return digestDef(name, nil, "unsalted SHA-256, base64", false)
	case "SHA512":
		return digestDef(name, nil, "unsalted SHA-512, base64", false)
	case "SSHA":
		return digestDef(name, nil, "salted SHA-1, base64(digest+salt), one hash per guess", true)
	case "SSHA256":
		return digestDef(name, nil, "salted SHA-256, base64(digest+salt), one hash per guess", true)
	case "SSHA512":
		return digestDef(name, nil, "salted SHA-512, base64(digest+salt), one hash per guess", true)
	case "SMD5":
		return digestDef(name, nil, "salted MD5, base64(digest+salt), legacy", true)
	case "PLAIN-MD5":
		return digestDef(name, nil, "unsalted MD5, hex (or base64 by length)", false)
	case "LDAP-MD5":
		return digestDef(name, nil, "unsalted MD5, base64 (or hex by length)", false)
	case "PLAIN-MD4":
		return digestDef(name, nil, "unsalted MD4, hex, legacy", false)
	case "CRAM-MD5":
		return &def{name: name, aliases: []string{"HMAC-MD5"}, enc: encHex, rawLen: cramContextLen,
			weak: true, plainEq: true, mechs: []string{MechPlain, MechCRAMMD5},
			desc:  "HMAC-MD5 inner/outer context (alias HMAC-MD5), plaintext-equivalent",
			parse: parseCRAM, gen: genCRAM}
	case "DIGEST-MD5":
		return &def{name: name, enc: encHex, rawLen: 16, weak: true, plainEq: true, mechs: []string{MechPlain},
			desc:  "hex MD5(user:realm:password), bound to the user name, plaintext-equivalent",
			parse: parseDigestMD5, gen: genDigestMD5}
	case "SCRAM-SHA-1":
		return &def{name: name, mechs: []string{MechPlain, MechSCRAMSHA1},
			desc:  "SCRAM-SHA-1 verifier iter,salt,StoredKey,ServerKey (4096 iterations)",
			parse: parseSCRAMDef(name), gen: genSCRAM(name)}
	case "SCRAM-SHA-256":
		return &def{name: name, mechs: []string{MechPlain, MechSCRAMSHA256},
			desc:  "SCRAM-SHA-256 verifier iter,salt,StoredKey,ServerKey (4096 iterations)",
			parse: parseSCRAMDef(name), gen: genSCRAM(name)}
	case "OTP":
		return &def{name: name, mechs: nil,
			desc:  "S/KEY one-time password state (not supported)",
			noGen: "OTP is not supported"}
	}
	panic("pwscheme: no definition for scheme " + name)
}
