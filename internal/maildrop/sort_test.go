package maildrop

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSortEntriesMatchesComparison(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		n := r.IntN(300)
		ents := make([]entry, 0, n)
		for range n {
			var name string
			switch r.IntN(6) {
			case 0:
				name = fmt.Sprintf("junk%d", r.IntN(20)) // no timestamp
			case 1:
				name = fmt.Sprintf("%d.%d.h", 1700000000+r.IntN(3), r.IntN(5)) // equal keys
			default:
				name = fmt.Sprintf("%d.M%dP1.h", 1000000000+r.IntN(800000000), r.IntN(1000000))
			}
			if r.IntN(4) == 0 {
				name += ":2,S"
			}
			blen := len(name)
			for k := range name {
				if name[k] == ':' {
					blen = k
					break
				}
			}
			e := entry{name: name, blen: int32(blen), sub: uint8(r.IntN(2))}
			e.key = parseSortKey(e.base())
			ents = append(ents, e)
		}
		want := slices.Clone(ents)
		slices.SortStableFunc(want, func(a, b entry) int { return compareEntries(&a, &b) })
		got := sortEntries(ents)
		for i := range want {
			if compareEntries(&got[i], &want[i]) != 0 || got[i].name != want[i].name || got[i].sub != want[i].sub {
				t.Fatalf("round %d: position %d: got %q, want %q", round, i, got[i].name, want[i].name)
			}
		}
	}
}
