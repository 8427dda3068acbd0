package maildrop

import (
	"strings"
	"testing"
)

func TestParseSortKey(t *testing.T) {
	tests := []struct {
		base string
		want sortKey
	}{
		{"1795846770.M623478P13624.vm,S=203,W=211", makeKey(1795846770, 623478)},
		{"1795846764.Vfe00I9843cbM704526.vm", makeKey(1795846764, 704526)},
		{"1795846783.M982723P13884V000000000000FE00I000000000098405B_0.vm,S=194", makeKey(1795846783, 982723)},
		{"1795846789.14103.vm", makeKey(1795846789, 0)},
		{"1795846789.P1M.hostM123", makeKey(1795846789, 0)},
		{"1795846789.P1M7", makeKey(1795846789, 7)},
		{"1795846789", makeKey(1795846789, 0)},
		{"1795846789.M", makeKey(1795846789, 0)},
		{"1.M1234567890.x", makeKey(1, maxUsec)},
		{"junk", noKey},
		{"", noKey},
		{".1", noKey},
		{"12a.M5.x", noKey},
		{"99999999999999999999.M1.x", noKey},
	}
	for _, tt := range tests {
		if got := parseSortKey(tt.base); got != tt.want {
			t.Errorf("parseSortKey(%q) = %x, want %x", tt.base, got, tt.want)
		}
	}
	if !(makeKey(1, 999999) < makeKey(2, 0) && makeKey(999999999999, maxUsec) < noKey) {
		t.Error("packed keys do not order by seconds, then microseconds")
	}
}

func validUIDL(s string) bool {
	if len(s) < 1 || len(s) > 70 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

func TestUIDLFor(t *testing.T) {
	long := "1795846783.M982723P13884V000000000000FE00I000000000098405B_0." +
		strings.Repeat("mail-relay.example.com", 4) + ",S=194"
	tests := []struct {
		base    string
		literal bool
	}{
		{"1795846770.M623478P13624.vm,S=203,W=211", true},
		{strings.Repeat("a", 70), true},
		{strings.Repeat("a", 71), false},
		{long, false},
		{"with space", false},
		{"tab\there", false},
		{"8bit\xe9", false},
		{"del\x7f", false},
		{"", false},
		{"H0123456789abcdef0123456789abcdef", false}, // digest-shaped
		{"H0123456789abcdef0123456789abcdeF", true},  // not digest-shaped
		{"H0123456789abcdef0123456789abcde", true},   // 31 digits
	}
	for _, tt := range tests {
		u := uidlFor(tt.base)
		if !validUIDL(u) {
			t.Errorf("uidlFor(%q) = %q: not 1-70 chars of 0x21-0x7E", tt.base, u)
		}
		if (u == tt.base) != tt.literal {
			t.Errorf("uidlFor(%q) = %q, literal want %v", tt.base, u, tt.literal)
		}
		if !tt.literal && !digestShaped(u) {
			t.Errorf("uidlFor(%q) = %q: digest form expected", tt.base, u)
		}
		if uidlFor(tt.base) != u {
			t.Errorf("uidlFor(%q) not deterministic", tt.base)
		}
	}
	// A digest-shaped base name never keeps its own value, so it cannot
	// collide with the digest of another name.
	d := uidlFor(long)
	if uidlFor(d) == d {
		t.Errorf("digest-shaped base %q was used literally", d)
	}
}

func TestSizeFromName(t *testing.T) {
	tests := []struct {
		base   string
		vs, ps int64
	}{
		{"1.M1P1.vm,S=203,W=211", 211, 203},
		{"1.M1P1.vm,W=211,S=203", 211, 203},
		{"1.M1P1.vm,S=203", -1, 203},
		{"1.M1P1.vm,S=203,W=150", -1, 203}, // W < S: impossible
		{"1.M1P1.vm,S=10,W=23", -1, 10},    // W > 2S+2: impossible
		{"1.M1P1.vm,W=x", -1, -1},
		{"1.M1P1.vm,W=", -1, -1},
		{"1.M1P1.vm", -1, -1},
		{"1.M1P1.vm,W=12", 12, -1},
	}
	for _, tt := range tests {
		vs, ps := sizeFromName(tt.base)
		if vs != tt.vs || ps != tt.ps {
			t.Errorf("sizeFromName(%q) = %d, %d; want %d, %d", tt.base, vs, ps, tt.vs, tt.ps)
		}
	}
}
