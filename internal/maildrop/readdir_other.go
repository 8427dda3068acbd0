//go:build !linux

package maildrop

import (
	"errors"
	"os"
	"strings"
)

// readNames lists dir, skipping names that start with '.'. The names are
// returned concatenated, name k ending at ends[k]. buf is not used here.
func readNames(dir string, _ *[]byte) (all string, ends []int32, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return "", nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	for _, n := range names {
		if n == "" || n[0] == '.' {
			continue
		}
		b.WriteString(n)
		if b.Len() > 1<<31-1 {
			return "", nil, errors.New("directory too large")
		}
		ends = append(ends, int32(b.Len()))
	}
	return b.String(), ends, nil
}
