package pop3d

// Hooks for the external tests (package pop3d_test), which cannot live in
// this package because they import memdrop.

// SetTimestamp replaces the APOP timestamp generator, so a transcript can
// use the timestamp of the RFC 1939 §7 example.
func SetTimestamp(s *Server, f func() string) { s.timestamp = f }

// ParseCommand exposes parseCommand to the fuzz tests: it returns the
// upper-case keyword, the argument text and whether a space followed the
// keyword.
func ParseCommand(line []byte) (name, rest string, hasRest bool, err error) {
	c, err := parseCommand(line)
	return c.Name, c.Rest, c.HasRest, err
}
