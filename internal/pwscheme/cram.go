package pwscheme

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strings"
)

// cramContextLen is the size of a stored CRAM-MD5 context: the MD5 state
// (a, b, c, d as little-endian uint32) after the HMAC opad block, then the
// state after the ipad block.
const cramContextLen = 32

// md5MarshalMagic starts crypto/md5's marshalled state: magic, state
// (4 × big-endian uint32), the 64-byte pending block, the length (uint64).
const md5MarshalMagic = "md5\x01"

// cramVerifier holds a stored CRAM-MD5 context.
type cramVerifier struct {
	ctx []byte
}

// parseCRAM accepts the 32 decoded context bytes.
func parseCRAM(raw []byte) (verifier, error) {
	return &cramVerifier{ctx: raw}, nil
}

func (v *cramVerifier) match(password, _ string) (bool, error) {
	ctx, err := cramContext([]byte(password))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(ctx, v.ctx) == 1, nil
}

func (v *cramVerifier) work() work { return work{} }

// genCRAM writes the hex context of the raw password bytes (Dovecot does not
// SASLprep it).
func genCRAM(password string, _ Params) (string, error) {
	ctx, err := cramContext([]byte(password))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(ctx), nil
}

// cramContext computes the HMAC-MD5 outer and inner states for key, as
// Dovecot's hmac_md5_get_cram_context does.
func cramContext(key []byte) ([]byte, error) {
	if len(key) > md5.BlockSize {
		sum := md5.Sum(key)
		key = sum[:]
	}
	var ipad, opad [md5.BlockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	out := make([]byte, 0, cramContextLen)
	for _, pad := range [][]byte{opad[:], ipad[:]} {
		h := md5.New()
		h.Write(pad)
		m, ok := h.(encoding.BinaryMarshaler)
		if !ok {
			return nil, unsupported("CRAM-MD5", "md5 state cannot be exported")
		}
		state, err := m.MarshalBinary()
		if err != nil || len(state) < len(md5MarshalMagic)+16 {
			return nil, unsupported("CRAM-MD5", "md5 state cannot be exported")
		}
		for i := 0; i < 4; i++ {
			word := binary.BigEndian.Uint32(state[len(md5MarshalMagic)+4*i:])
			out = binary.LittleEndian.AppendUint32(out, word)
		}
	}
	return out, nil
}

// md5Resume returns an MD5 hash continuing from the 16-byte little-endian
// state half of a CRAM-MD5 context, i.e. after one 64-byte pad block.
func md5Resume(half []byte) (hash.Hash, error) {
	state := make([]byte, 0, len(md5MarshalMagic)+16+md5.BlockSize+8)
	state = append(state, md5MarshalMagic...)
	for i := 0; i < 4; i++ {
		state = binary.BigEndian.AppendUint32(state, binary.LittleEndian.Uint32(half[4*i:]))
	}
	state = append(state, make([]byte, md5.BlockSize)...)
	state = binary.BigEndian.AppendUint64(state, md5.BlockSize)
	h := md5.New()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok || u.UnmarshalBinary(state) != nil {
		return nil, unsupported("CRAM-MD5", "md5 state cannot be restored")
	}
	return h, nil
}

// cramDigest computes hex HMAC-MD5(secret, challenge) from a stored
// context: the inner state absorbs the challenge, the outer one the inner
// digest.
func cramDigest(ctx, challenge []byte) (string, error) {
	inner, err := md5Resume(ctx[16:32])
	if err != nil {
		return "", err
	}
	inner.Write(challenge)
	outer, err := md5Resume(ctx[0:16])
	if err != nil {
		return "", err
	}
	outer.Write(inner.Sum(nil))
	return hex.EncodeToString(outer.Sum(nil)), nil
}

// CRAMMD5Digest returns the RFC 2195 response for challenge: the lower-case
// hex HMAC-MD5 keyed with the user's secret. stored is either a {CRAM-MD5}
// context or a PLAIN-family value (see PlainSecret); any other scheme gives
// an error wrapping ErrUnknownScheme.
func CRAMMD5Digest(stored string, challenge []byte) (string, error) {
	h, err := Parse(stored)
	if err != nil {
		return "", err
	}
	if h.Scheme == "CRAM-MD5" {
		v, err := parseVerifier(h)
		if err != nil {
			return "", err
		}
		return cramDigest(v.(*cramVerifier).ctx, challenge)
	}
	secret, ok := PlainSecret(stored)
	if !ok {
		if h.Scheme == "PLAIN" || h.Scheme == "PLAIN-TRUNC" {
			if _, err := parseVerifier(h); err != nil {
				return "", err
			}
		}
		return "", unsupported(h.Scheme, "value cannot serve CRAM-MD5 (needs {CRAM-MD5} or cleartext)")
	}
	mac := hmac.New(md5.New, []byte(secret))
	mac.Write(challenge)
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// APOPDigest returns the RFC 1939 APOP digest: lower-case hex
// MD5(timestamp ‖ secret).
func APOPDigest(timestamp, secret string) string {
	sum := md5.Sum([]byte(timestamp + secret))
	return hex.EncodeToString(sum[:])
}

// digestMD5Verifier holds a stored DIGEST-MD5 hash, MD5(user:realm:pw).
type digestMD5Verifier struct {
	want []byte
}

// parseDigestMD5 accepts the 16 decoded bytes.
func parseDigestMD5(raw []byte) (verifier, error) {
	return &digestMD5Verifier{want: raw}, nil
}

// digestMD5Sum returns MD5("user:realm:password") where user@realm is split
// at the first '@' (no '@' means an empty realm), as Dovecot does.
func digestMD5Sum(user, password string) []byte {
	u, realm, _ := strings.Cut(user, "@")
	sum := md5.Sum([]byte(u + ":" + realm + ":" + password))
	return sum[:]
}

func (v *digestMD5Verifier) match(password, user string) (bool, error) {
	if user == "" {
		return false, malformed("DIGEST-MD5", "verification needs the user name")
	}
	return subtle.ConstantTimeCompare(digestMD5Sum(user, password), v.want) == 1, nil
}

func (v *digestMD5Verifier) work() work { return work{} }

// genDigestMD5 writes hex MD5(user:realm:password) for p.User.
func genDigestMD5(password string, p Params) (string, error) {
	if p.User == "" {
		return "", malformed("DIGEST-MD5", "generation needs Params.User")
	}
	return hex.EncodeToString(digestMD5Sum(p.User, password)), nil
}
