package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// maxReportLines bounds the lines read from the results and spec files.
const maxReportLines = 1_000_000

// specRow is one row of the report table, read from a tab-separated spec
// file with the columns: figure, label, field, unit, extras (comma
// separated fields shown beside the median), baseline label, baseline
// field, baseline name, targets (";"-separated: ">=N", "<=N" on the
// median, ">=N%" or "<=N%" on the median as a percentage of the baseline).
// "-" leaves a column empty.
type specRow struct {
	figure, label, field, unit string
	extras                     []string
	baseLabel, baseField       string
	baseName                   string
	targets                    []target
}

// target is one condition on a figure.
type target struct {
	atLeast bool    // >= (else <=)
	value   float64 // bound
	percent bool    // the bound applies to figure/baseline*100
}

func (t target) String() string {
	op := "≤"
	if t.atLeast {
		op = "≥"
	}
	if t.percent {
		return op + " " + fmtNum(t.value) + "% of baseline"
	}
	return op + " " + fmtNum(t.value)
}

func (t target) met(v, ratio float64) (bool, bool) {
	x := v
	if t.percent {
		x = ratio
	}
	if math.IsNaN(x) {
		return false, false
	}
	if t.atLeast {
		return x >= t.value, true
	}
	return x <= t.value, true
}

// parseSpec reads the spec file.
func parseSpec(r io.Reader) ([]specRow, error) {
	var rows []specRow
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		if n > maxReportLines {
			return nil, errors.New("spec: too many lines")
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			return nil, fmt.Errorf("spec line %d: %d columns, want 9", n, len(f))
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
			if f[i] == "-" {
				f[i] = ""
			}
		}
		row := specRow{figure: f[0], label: f[1], field: f[2], unit: f[3],
			baseLabel: f[5], baseField: f[6], baseName: f[7]}
		if row.figure == "" || row.label == "" || row.field == "" {
			return nil, fmt.Errorf("spec line %d: figure, label and field are required", n)
		}
		if f[4] != "" {
			row.extras = strings.Split(f[4], ",")
		}
		if f[8] != "" {
			for _, t := range strings.Split(f[8], ";") {
				tg, err := parseTarget(strings.TrimSpace(t))
				if err != nil {
					return nil, fmt.Errorf("spec line %d: %w", n, err)
				}
				if tg.percent && row.baseLabel == "" {
					return nil, fmt.Errorf("spec line %d: a percentage target needs a baseline", n)
				}
				row.targets = append(row.targets, tg)
			}
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

func parseTarget(s string) (target, error) {
	var t target
	switch {
	case strings.HasPrefix(s, ">="):
		t.atLeast = true
	case strings.HasPrefix(s, "<="):
	default:
		return t, fmt.Errorf("target %q: want >=N, <=N, >=N%% or <=N%%", s)
	}
	v := strings.TrimSpace(s[2:])
	if strings.HasSuffix(v, "%") {
		t.percent = true
		v = strings.TrimSuffix(v, "%")
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return t, fmt.Errorf("target %q: bad number", s)
	}
	t.value = x
	return t, nil
}

// runSet is the collected JSON lines of one label.
type runSet struct {
	ok     []map[string]any
	failed []map[string]any
}

// readResults reads JSON lines; lines without a label are ignored.
func readResults(r io.Reader) (map[string]*runSet, error) {
	sets := map[string]*runSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n > maxReportLines {
			return nil, errors.New("results: too many lines")
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("results line %d: %w", n, err)
		}
		label, _ := m["label"].(string)
		if label == "" {
			continue
		}
		s := sets[label]
		if s == nil {
			s = &runSet{}
			sets[label] = s
		}
		if ok, _ := m["ok"].(bool); ok {
			s.ok = append(s.ok, m)
		} else {
			s.failed = append(s.failed, m)
		}
	}
	return sets, sc.Err()
}

// medianOf returns the median of field over the successful runs of label,
// and how many runs had it.
func medianOf(sets map[string]*runSet, label, field string) (float64, int) {
	s := sets[label]
	if s == nil {
		return math.NaN(), 0
	}
	var xs []float64
	for _, m := range s.ok {
		if v, ok := m[field].(float64); ok {
			xs = append(xs, v)
		}
	}
	return median(xs), len(xs)
}

// fmtNum formats x with about three significant digits.
func fmtNum(x float64) string {
	switch a := math.Abs(x); {
	case math.IsNaN(x):
		return "n/a"
	case a >= 100 || a == math.Trunc(a):
		return strconv.FormatFloat(x, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// fmtField formats a named extra field: "p50_ms" 9.1 → "p50 9.10 ms".
func fmtField(name string, x float64) string {
	for _, u := range []struct{ suffix, unit string }{{"_ms", " ms"}, {"_kib", " KiB"}, {"_per_s", "/s"}, {"_s", " s"}} {
		if strings.HasSuffix(name, u.suffix) {
			return strings.ReplaceAll(strings.TrimSuffix(name, u.suffix), "_", " ") + " " + fmtNum(x) + u.unit
		}
	}
	return strings.ReplaceAll(name, "_", " ") + " " + fmtNum(x)
}

// writeReport writes the Markdown table and returns the number of rows
// whose target is not met or whose figure is missing.
func writeReport(w io.Writer, rows []specRow, sets map[string]*runSet) int {
	bad := 0
	fmt.Fprintln(w, "| Figure | Median | Runs | Baseline | Target | Met? |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, row := range rows {
		v, n := medianOf(sets, row.label, row.field)
		failed := 0
		if s := sets[row.label]; s != nil {
			failed = len(s.failed)
		}
		med := "n/a"
		if n > 0 {
			med = fmtNum(v) + " " + row.unit
			var ex []string
			for _, f := range row.extras {
				if x, k := medianOf(sets, row.label, f); k > 0 {
					ex = append(ex, fmtField(f, x))
				}
			}
			if len(ex) > 0 {
				med += " (" + strings.Join(ex, ", ") + ")"
			}
		} else if failed > 0 {
			med = "failed"
		}
		runs := strconv.Itoa(n)
		if failed > 0 {
			runs += fmt.Sprintf(" (+%d failed)", failed)
		}
		base, ratio := "", math.NaN()
		if row.baseLabel != "" {
			bv, bn := medianOf(sets, row.baseLabel, row.baseField)
			if bn > 0 {
				if bv != 0 && n > 0 {
					ratio = v / bv * 100
				}
				name := row.baseName
				if name == "" {
					name = row.baseLabel
				}
				base = fmt.Sprintf("%s %s %s", name, fmtNum(bv), row.unit)
				if !math.IsNaN(ratio) {
					base += fmt.Sprintf(" → %s%%", fmtNum(ratio))
				}
			} else {
				base = "n/a"
			}
		}
		var tg []string
		met := ""
		if len(row.targets) > 0 {
			all, known := true, true
			for _, t := range row.targets {
				tg = append(tg, t.String())
				ok, k := t.met(v, ratio)
				if !k || n == 0 {
					known = false
				} else if !ok {
					all = false
				}
			}
			switch {
			case !all:
				met = "**no**"
				bad++
			case !known:
				met = "n/a"
				bad++
			default:
				met = "yes"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(row.figure), mdEscape(med), runs, mdEscape(base), mdEscape(strings.Join(tg, "; ")), met)
	}
	return bad
}

// writeFailures lists the first error of every failed run.
func writeFailures(w io.Writer, rows []specRow, sets map[string]*runSet) {
	seen := map[string]bool{}
	var lines []string
	for _, row := range rows {
		for _, label := range []string{row.label, row.baseLabel} {
			s := sets[label]
			if label == "" || seen[label] || s == nil {
				continue
			}
			seen[label] = true
			for _, m := range s.failed {
				msg, _ := m["first_error"].(string)
				if msg == "" {
					msg = "no error text"
				}
				lines = append(lines, fmt.Sprintf("- `%s`: %s", label, mdEscape(msg)))
			}
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Failed runs:")
		fmt.Fprintln(w)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

// mdEscape keeps a table cell on one line and its pipes literal.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// runReport prints the Markdown table of a spec over collected results.
func runReport(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report")
	resultsFile := fs.String("results", "", "file of JSON lines written by the measuring subcommands")
	specFile := fs.String("spec", "", "tab-separated table spec (see the report.go doc)")
	strict := fs.Bool("strict", false, "exit with status 1 when a target is missed or a figure is missing")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if *resultsFile == "" || *specFile == "" {
		return fmt.Errorf("%w: -results and -spec are required", errUsage)
	}
	sf, err := os.Open(*specFile)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer sf.Close()
	rows, err := parseSpec(sf)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	rf, err := os.Open(*resultsFile)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer rf.Close()
	sets, err := readResults(rf)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	bad := writeReport(e.stdout, rows, sets)
	writeFailures(e.stdout, rows, sets)
	if *strict && bad > 0 {
		fmt.Fprintf(e.stderr, "report: %d figure(s) miss their target or are missing\n", bad)
		return errFailed
	}
	return nil
}
