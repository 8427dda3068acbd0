package pwscheme

// NeedsRehash reports whether a stored value that a plaintext password has
// just been verified against should be replaced by a new value of scheme
// want with parameters p: true when stored is of another scheme (aliases
// resolved) or cannot be parsed, or when it is of the same scheme with
// weaker parameters (fewer rounds, lower bcrypt cost, less Argon2 memory or
// fewer passes, SCRAM iterations below 4096). It returns false when want is
// unknown or not generatable.
func NeedsRehash(stored, want string, p Params) bool {
	d, ok := lookupDef(want, "")
	if !ok || d.gen == nil {
		return false
	}
	h, v, err := parseStored(stored)
	if err != nil || h.Scheme != d.name {
		return true
	}
	w := v.work()
	switch d.name {
	case "SHA256-CRYPT", "SHA512-CRYPT":
		return w.rounds < orDefault(p.Rounds, shaCryptDefaultRounds)
	case "PBKDF2":
		return w.rounds < orDefault(p.Rounds, pbkdf2DefaultRounds)
	case "BLF-CRYPT":
		return w.cost < orDefault(p.Rounds, bcryptDefaultCost)
	case "ARGON2I", "ARGON2ID":
		m, t, _ := argonParams(p)
		return w.memKiB < m || w.time < t
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		return w.rounds < scramDefaultIter
	}
	return false
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
