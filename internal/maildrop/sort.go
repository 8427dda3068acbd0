package maildrop

import (
	"math/bits"
	"slices"
)

// sortEntries returns ents in snapshot order (compareEntries). Delivery
// times are sorted with an LSD radix sort on the packed keys, which costs
// a few linear passes instead of the ~1.7 million comparisons a
// comparison sort needs for 100,000 names; runs of equal keys (rare) and
// names without a timestamp are then ordered by compareEntries.
func sortEntries(ents []entry) []entry {
	type pair struct {
		key uint64
		i   int32
	}
	pairs := make([]pair, 0, len(ents))
	var last []int32 // entries without a timestamp: they sort last
	minKey, maxKey := uint64(noKey), uint64(0)
	for i := range ents {
		k := uint64(ents[i].key)
		if ents[i].key == noKey {
			last = append(last, int32(i))
			continue
		}
		minKey, maxKey = min(minKey, k), max(maxKey, k)
		pairs = append(pairs, pair{k, int32(i)})
	}
	if len(pairs) > 1 {
		for j := range pairs {
			pairs[j].key -= minKey
		}
		tmp := make([]pair, len(pairs))
		src, dst := pairs, tmp
		for shift := 0; shift < bits.Len64(maxKey-minKey); shift += 8 {
			var count [256]int
			for _, p := range src {
				count[byte(p.key>>shift)]++
			}
			if count[byte(src[0].key>>shift)] == len(src) {
				continue // every key has the same digit here
			}
			pos := 0
			for d := range count {
				count[d], pos = pos, pos+count[d]
			}
			for _, p := range src {
				d := byte(p.key >> shift)
				dst[count[d]] = p
				count[d]++
			}
			src, dst = dst, src
		}
		pairs = src
	}
	out := make([]entry, 0, len(ents))
	byEntry := func(a, b int32) int { return compareEntries(&ents[a], &ents[b]) }
	run := make([]int32, 0, 8)
	for j := 0; j < len(pairs); {
		k := j + 1
		for k < len(pairs) && pairs[k].key == pairs[j].key {
			k++
		}
		if k-j == 1 {
			out = append(out, ents[pairs[j].i])
		} else {
			run = run[:0]
			for _, p := range pairs[j:k] {
				run = append(run, p.i)
			}
			slices.SortFunc(run, byEntry)
			for _, i := range run {
				out = append(out, ents[i])
			}
		}
		j = k
	}
	slices.SortFunc(last, byEntry)
	for _, i := range last {
		out = append(out, ents[i])
	}
	return out
}
