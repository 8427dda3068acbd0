package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleResults = `{"kind":"logins","label":"logins/A/c8","ok":true,"logins_per_s":900,"p50_ms":8,"p99_ms":20}
{"kind":"logins","label":"logins/A/c8","ok":true,"logins_per_s":700,"p50_ms":9,"p99_ms":30}
{"kind":"logins","label":"logins/A/c8","ok":true,"logins_per_s":850,"p50_ms":10,"p99_ms":25}
{"kind":"hashfloor","label":"verify/A/c8","ok":true,"ops_per_s":1000}
{"kind":"idle","label":"idle","ok":true,"kib_per_session":60.5}
{"kind":"uidl","label":"uidl","ok":false,"first_error":"session 1: PASS: -ERR [IN-USE] x"}
{"kind":"logins","ok":true,"logins_per_s":5}
`

const sampleSpec = "# comment\n" +
	"Logins c=8\tlogins/A/c8\tlogins_per_s\t/s\tp50_ms,p99_ms\tverify/A/c8\tops_per_s\tverify floor\t>=800;>=80%\n" +
	"Idle\tidle\tkib_per_session\tKiB\t-\t-\t-\t-\t<=50\n" +
	"UIDL\tuidl\tuidl_warm_ms\tms\t-\t-\t-\t-\t<=150\n" +
	"No target\tlogins/A/c8\tp99_ms\tms\t-\t-\t-\t-\t-\n"

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportTable(t *testing.T) {
	res := writeTemp(t, "r.jsonl", sampleResults)
	spec := writeTemp(t, "s.tsv", sampleSpec)
	out, errText, code := runCmd(t, nil, "report", "-results", res, "-spec", spec)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"| Logins c=8 | 850 /s (p50 9 ms, p99 25 ms) | 3 | verify floor 1000 /s → 85% | ≥ 800; ≥ 80% of baseline | yes |",
		"| Idle | 60.5 KiB | 1 |  | ≤ 50 | **no** |",
		"| UIDL | failed | 0 (+1 failed) |  | ≤ 150 | n/a |",
		"| No target | 25 ms | 3 |  |  |  |",
	}
	for i, w := range want {
		if i+2 >= len(lines) || lines[i+2] != w {
			t.Errorf("row %d:\n got %q\nwant %q", i, lines[min(i+2, len(lines)-1)], w)
		}
	}
	if !strings.Contains(out, "`uidl`: session 1: PASS: -ERR [IN-USE] x") {
		t.Errorf("failed runs not listed:\n%s", out)
	}
	if _, _, code := runCmd(t, nil, "report", "-results", res, "-spec", spec, "-strict"); code != 1 {
		t.Errorf("-strict with missed targets: code %d, want 1", code)
	}
}

func TestReportSpecErrors(t *testing.T) {
	res := writeTemp(t, "r.jsonl", sampleResults)
	for _, bad := range []string{
		"too\tfew\tcolumns\n",
		"F\tl\tf\t/s\t-\t-\t-\t-\t>800\n",
		"F\tl\tf\t/s\t-\t-\t-\t-\t>=80%\n",
		"\tl\tf\t/s\t-\t-\t-\t-\t-\n",
	} {
		spec := writeTemp(t, "s.tsv", bad)
		if _, _, code := runCmd(t, nil, "report", "-results", res, "-spec", spec); code != 1 {
			t.Errorf("spec %q: code %d, want 1", bad, code)
		}
	}
}

const sampleBench = `goos: linux
goarch: amd64
pkg: github.com/popadm/popadm/internal/pwscheme
cpu: Some CPU
BenchmarkVerify/SHA512-CRYPT-2         	     300	   3000000 ns/op	    1000 B/op	      10 allocs/op
BenchmarkVerify/SHA512-CRYPT-2         	     300	   5000000 ns/op	    1000 B/op	      10 allocs/op
BenchmarkVerify/SHA512-CRYPT-2         	     300	   4000000 ns/op	    1200 B/op	      12 allocs/op
PASS
ok  	github.com/popadm/popadm/internal/pwscheme	3.1s
pkg: github.com/popadm/popadm/internal/maildrop
BenchmarkScan-2   	      10	 100000000 ns/op	  52.5 MB/s	 500 B/op	       5 allocs/op
BenchmarkScan-2   	      10	 120000000 ns/op	  50.5 MB/s	 500 B/op	       5 allocs/op
--- FAIL: BenchmarkBroken
ok  	github.com/popadm/popadm/internal/maildrop	2.0s
`

func TestBenchstat(t *testing.T) {
	var out strings.Builder
	e := &env{stdin: strings.NewReader(sampleBench), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	if err := runBenchstat(t.Context(), e, nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"| internal/pwscheme | BenchmarkVerify/SHA512-CRYPT-2 | 3 | 4000000 | 1000 | 10 |  |",
		"| internal/maildrop | BenchmarkScan-2 | 2 | 110000000 | 500 | 5 | 51.5 MB/s |",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("missing row %q in:\n%s", w, out.String())
		}
	}
}
