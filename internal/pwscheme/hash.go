package pwscheme

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Encoding names used in Hash.Encoding.
const (
	encHex = "HEX"
	encB64 = "B64"
)

// Hash is a parsed "{SCHEME[.ENC]}value" string.
type Hash struct {
	// Scheme is the canonical upper-case scheme name with aliases resolved
	// (CLEAR and CLEARTEXT → PLAIN, SHA1 → SHA, HMAC-MD5 → CRAM-MD5, MD5 →
	// MD5-CRYPT or PLAIN-MD5 depending on the value).
	Scheme string
	// Encoding is the explicit encoding suffix: "", "HEX" or "B64"
	// (".BASE64" is read as "B64").
	Encoding string
	// Value is the text after the closing brace, still encoded.
	Value string
}

// String returns h in the "{SCHEME[.ENC]}value" form.
func (h Hash) String() string {
	if h.Encoding != "" {
		return "{" + h.Scheme + "." + h.Encoding + "}" + h.Value
	}
	return "{" + h.Scheme + "}" + h.Value
}

// Parse splits stored into scheme, encoding and value. The scheme name is
// case-insensitive and resolved to its canonical name; an unknown scheme or
// an unknown encoding suffix gives an error wrapping ErrUnknownScheme, a
// missing "{...}" prefix or an empty value one wrapping ErrMalformed. Parse
// does not look inside the value; Validate does.
func Parse(stored string) (Hash, error) {
	if !strings.HasPrefix(stored, "{") {
		return Hash{}, malformed("(none)", "missing {SCHEME} prefix")
	}
	end := strings.IndexByte(stored, '}')
	if end < 0 {
		return Hash{}, malformed("(none)", "missing closing brace after the scheme name")
	}
	name, value := stored[1:end], stored[end+1:]
	if name == "" {
		return Hash{}, malformed("(none)", "empty scheme name")
	}
	base, enc, err := splitEncoding(name)
	if err != nil {
		return Hash{}, err
	}
	d, ok := lookupDef(base, value)
	if !ok {
		return Hash{}, unknown(base)
	}
	if value == "" {
		return Hash{}, malformed(d.name, "empty value")
	}
	return Hash{Scheme: d.name, Encoding: enc, Value: value}, nil
}

// splitEncoding splits "NAME.ENC" into NAME and the canonical encoding.
func splitEncoding(name string) (base, enc string, err error) {
	base, suffix, found := strings.Cut(name, ".")
	if !found {
		return base, "", nil
	}
	switch strings.ToUpper(suffix) {
	case "HEX":
		return base, encHex, nil
	case "B64", "BASE64":
		return base, encB64, nil
	}
	return "", "", unknown(name)
}

// decodeValue returns the raw bytes of h.Value following Dovecot's rules:
// an explicit encoding suffix wins; for schemes with a fixed raw length and
// no suffix the encoding is guessed by length (twice the raw length means
// hex, falling back to base64 if that fails; anything else is base64);
// otherwise the scheme's default encoding is used.
func decodeValue(d *def, h Hash) ([]byte, error) {
	enc := h.Encoding
	guessed := false
	if enc == "" {
		enc = d.enc
		if d.enc != "" && d.rawLen > 0 {
			guessed = true
			if len(h.Value) == 2*d.rawLen {
				enc = encHex
			} else {
				enc = encB64
			}
		}
	}
	var raw []byte
	switch enc {
	case "":
		raw = []byte(h.Value)
	case encHex:
		b, err := hex.DecodeString(h.Value)
		if err == nil {
			raw = b
			break
		}
		if !guessed {
			return nil, malformed(d.name, "value is not valid hex")
		}
		b, err = decodeBase64(h.Value)
		if err != nil {
			return nil, malformed(d.name, "value is neither valid hex nor valid base64")
		}
		raw = b
	case encB64:
		b, err := decodeBase64(h.Value)
		if err != nil {
			return nil, malformed(d.name, "value is not valid base64")
		}
		raw = b
	}
	if d.rawLen > 0 && len(raw) != d.rawLen {
		return nil, malformed(d.name, "decoded value has the wrong length (truncated or not this scheme)")
	}
	return raw, nil
}

// decodeBase64 decodes standard base64, with or without padding.
func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, base64.CorruptInputError(0)
	}
	if strings.HasSuffix(s, "=") || len(s)%4 == 0 {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
