package testkit

// LFToCRLF is the reference line-end transform, written for clarity, not
// speed: every LF not preceded by CR becomes CRLF, every other octet
// passes unchanged.
func LFToCRLF(in []byte) []byte {
	var out []byte
	for i, c := range in {
		if c == '\n' && (i == 0 || in[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// Transmitted is the reference transmitted form of a stored message, as
// RETR sends it before dot-stuffing: LFToCRLF, plus CRLF appended to a
// non-empty message that does not end in LF. The stores' tests compare
// their streaming readers with it; internal/crlf pins it to fixed cases.
func Transmitted(in []byte) []byte {
	out := LFToCRLF(in)
	if len(in) > 0 && in[len(in)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}
