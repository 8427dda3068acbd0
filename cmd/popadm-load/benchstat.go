package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// benchKey identifies one benchmark.
type benchKey struct{ pkg, name string }

// benchData holds every value reported for one benchmark, by unit, in the
// order the units first appeared.
type benchData struct {
	units  []string
	values map[string][]float64
	runs   int
}

// parseBench reads `go test -bench` output. "pkg:" lines set the package
// of the Benchmark lines that follow.
func parseBench(r io.Reader) ([]benchKey, map[benchKey]*benchData, error) {
	var order []benchKey
	data := map[benchKey]*benchData{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n > maxReportLines {
			return nil, nil, errors.New("benchstat: too many lines")
		}
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		// name iterations (value unit)+
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		k := benchKey{pkg, f[0]}
		d := data[k]
		if d == nil {
			d = &benchData{values: map[string][]float64{}}
			data[k] = d
			order = append(order, k)
		}
		d.runs++
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			u := f[i+1]
			if _, seen := d.values[u]; !seen {
				d.units = append(d.units, u)
			}
			d.values[u] = append(d.values[u], v)
		}
	}
	return order, data, sc.Err()
}

// runBenchstat prints a Markdown table of the median of every benchmark
// figure from `go test -bench` output on the standard input.
func runBenchstat(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "benchstat")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	order, data, err := parseBench(e.stdin)
	if err != nil {
		return err
	}
	if len(order) == 0 {
		fmt.Fprintln(e.stdout, "(no benchmark results)")
		return nil
	}
	fixed := []string{"ns/op", "B/op", "allocs/op"}
	fmt.Fprintln(e.stdout, "| Package | Benchmark | Runs | ns/op | B/op | allocs/op | Other |")
	fmt.Fprintln(e.stdout, "|---|---|---|---|---|---|---|")
	for _, k := range order {
		d := data[k]
		cells := make([]string, 0, len(fixed))
		for _, u := range fixed {
			if vs := d.values[u]; len(vs) > 0 {
				cells = append(cells, fmtNum(median(vs)))
			} else {
				cells = append(cells, "")
			}
		}
		var other []string
		for _, u := range d.units {
			if u == "ns/op" || u == "B/op" || u == "allocs/op" {
				continue
			}
			other = append(other, fmtNum(median(d.values[u]))+" "+u)
		}
		pkg := k.pkg
		if i := strings.LastIndex(pkg, "/popadm/"); i >= 0 {
			pkg = pkg[i+len("/popadm/"):]
		}
		fmt.Fprintf(e.stdout, "| %s | %s | %d | %s | %s |\n", mdEscape(pkg), mdEscape(k.name), d.runs,
			strings.Join(cells, " | "), mdEscape(strings.Join(other, ", ")))
	}
	return nil
}
