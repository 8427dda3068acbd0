package pwscheme

// parseVerifier decodes h.Value and builds the verifier for its scheme.
func parseVerifier(h Hash) (verifier, error) {
	d, ok := lookupDef(h.Scheme, h.Value)
	if !ok {
		return nil, unknown(h.Scheme)
	}
	if d.parse == nil {
		return nil, unsupported(d.name, "verification of this scheme is not supported")
	}
	raw, err := decodeValue(d, h)
	if err != nil {
		return nil, err
	}
	return d.parse(raw)
}

// parseStored is Parse followed by parseVerifier.
func parseStored(stored string) (Hash, verifier, error) {
	h, err := Parse(stored)
	if err != nil {
		return Hash{}, nil, err
	}
	v, err := parseVerifier(h)
	if err != nil {
		return Hash{}, nil, err
	}
	return h, v, nil
}

// Validate parses stored and checks the structure of its value: encoding,
// salt and digest lengths, cost parameter ranges and character sets. It
// returns nil if Verify could check a password against stored. Errors wrap
// ErrUnknownScheme (unknown or unsupported scheme) or ErrMalformed, and
// name the scheme and the reason, never the value.
func Validate(stored string) error {
	_, _, err := parseStored(stored)
	return err
}

// Verify reports whether password matches the stored "{SCHEME}value". user
// is used only by DIGEST-MD5 ("alice@example.com" means user "alice", realm
// "example.com"). A mismatch gives (false, nil); a stored value that cannot
// be checked gives (false, err) with err wrapping ErrUnknownScheme or
// ErrMalformed. Comparisons are constant-time.
//
// For SCRAM values the password is tried both SASLprep'd (RFC 5802, as
// written by Generate) and as raw bytes (as written by Dovecot, which does
// not SASLprep), so that imported Dovecot verifiers keep working for
// USER/PASS logins.
func Verify(stored, password, user string) (bool, error) {
	_, v, err := parseStored(stored)
	if err != nil {
		return false, err
	}
	return v.match(password, user)
}
