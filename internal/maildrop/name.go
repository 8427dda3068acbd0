package maildrop

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// maxUIDLLen is the longest unique-id RFC 1939 §7 allows.
const maxUIDLLen = 70

// digestPrefix starts every UIDL that is a digest of a base name.
const digestPrefix = "H"

// digestHexLen is the number of hex digits in a digest UIDL (128 bits).
const digestHexLen = 32

// baseName returns the part of a Maildir file name before the first ':'.
// It is the only stable key of a message (maildir-migration.md §0).
func baseName(name string) string {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i]
	}
	return name
}

// uidlFor derives the POP3 unique-id of a message from its base name alone,
// so that it survives flag renames, new/ to cur/ moves, restarts and the
// loss of the size cache.
//
// The base name is used as is when it is 1 to 70 octets of 0x21-0x7E and
// does not have the shape of a digest UIDL; otherwise the UIDL is "H"
// followed by 32 lower-case hex digits of SHA-256(base name). Because a
// literal UIDL never has the digest shape and every digest UIDL has it, a
// literal can never equal a digest; two digests are equal only for equal
// base names (or a 128-bit SHA-256 collision).
func uidlFor(base string) string {
	if literalOK(base) {
		return base
	}
	sum := sha256.Sum256([]byte(base))
	return digestPrefix + hex.EncodeToString(sum[:digestHexLen/2])
}

// literalOK reports whether base can serve as its own UIDL.
func literalOK(base string) bool {
	if len(base) == 0 || len(base) > maxUIDLLen {
		return false
	}
	for i := 0; i < len(base); i++ {
		if base[i]-0x21 > 0x7E-0x21 { // outside 0x21-0x7E (unsigned wrap)
			return false
		}
	}
	return len(base) != len(digestPrefix)+digestHexLen || !digestShaped(base)
}

// digestShaped reports whether s looks like a digest UIDL: "H" and exactly
// 32 lower-case hex digits. No known Maildir writer produces such a name
// (they all start with the delivery time in decimal).
func digestShaped(s string) bool {
	if len(s) != len(digestPrefix)+digestHexLen || !strings.HasPrefix(s, digestPrefix) {
		return false
	}
	for i := len(digestPrefix); i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sortKey is the delivery time encoded in a base name, packed as
// seconds<<20 | microseconds so that keys compare as integers. noKey marks
// a name without a leading timestamp.
type sortKey uint64

const (
	usecBits      = 20
	maxUsec       = 1<<usecBits - 1
	maxSecDigits  = 12 // seconds < 10^12 < 2^40: the packed key fits in 60 bits
	maxUsecDigits = 9
	noKey         = sortKey(1<<64 - 1)
)

// makeKey packs a delivery time; microseconds beyond 20 bits are clamped.
func makeKey(sec, usec uint64) sortKey {
	return sortKey(sec<<usecBits | min(usec, maxUsec))
}

// parseSortKey extracts the delivery time from a base name. Every common
// writer starts the name with the seconds, then '.', then a delivery id in
// which Dovecot, Courier and Postfix put "M<usec>" (Postfix after its
// V<dev>I<ino> hex fields, which are lower case and so contain no 'M').
func parseSortKey(base string) sortKey {
	var sec uint64
	i := 0
	for ; i < len(base) && base[i] >= '0' && base[i] <= '9'; i++ {
		if i == maxSecDigits {
			return noKey
		}
		sec = sec*10 + uint64(base[i]-'0')
	}
	if i == 0 {
		return noKey
	}
	if i == len(base) {
		return makeKey(sec, 0)
	}
	if base[i] != '.' {
		return noKey
	}
	for j := i + 1; j+1 < len(base) && base[j] != '.'; j++ {
		if base[j] != 'M' || base[j+1] < '0' || base[j+1] > '9' {
			continue
		}
		var usec uint64
		for k := j + 1; k < len(base) && k-j <= maxUsecDigits && base[k] >= '0' && base[k] <= '9'; k++ {
			usec = usec*10 + uint64(base[k]-'0')
		}
		return makeKey(sec, usec)
	}
	return makeKey(sec, 0)
}

// compareKeys orders messages oldest first: seconds, then microseconds,
// then base name. Names without a timestamp sort after all others.
func compareKeys(a, b sortKey, an, bn string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return strings.Compare(an, bn)
}

// nameField returns the decimal value of a ",<key>=<n>" field in a base
// name (Maildir++ S= and Dovecot W=), or -1 when it is absent or malformed.
func nameField(base, key string) int64 {
	tag := "," + key + "="
	i := strings.LastIndex(base, tag)
	if i < 0 {
		return -1
	}
	v := base[i+len(tag):]
	if j := strings.IndexByte(v, ','); j >= 0 {
		v = v[:j]
	}
	if v == "" || len(v) > 18 || !allDigits(v) {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// sizeFromName returns the transmitted size promised by ",W=" and the
// physical size from ",S=" (-1 when unknown). A W= that cannot be right for
// the S= beside it (smaller than S, or more than 2S+2) is not used.
func sizeFromName(base string) (vsize, psize int64) {
	vsize = nameField(base, "W")
	psize = nameField(base, "S")
	if vsize >= 0 && psize >= 0 && (vsize < psize || vsize > 2*psize+2) {
		vsize = -1
	}
	return vsize, psize
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
