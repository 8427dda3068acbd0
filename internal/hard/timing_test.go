package hard

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
)

// abKS returns the two-sample Kolmogorov–Smirnov statistic D of a and b
// and its asymptotic p-value (Numerical Recipes' Q_KS with the Stephens
// small-sample correction).
func abKS(a, b []float64) (d, p float64) {
	a = append([]float64(nil), a...)
	b = append([]float64(nil), b...)
	sort.Float64s(a)
	sort.Float64s(b)
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x := math.Min(a[i], b[j])
		for i < len(a) && a[i] <= x {
			i++
		}
		for j < len(b) && b[j] <= x {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	ne := float64(len(a)*len(b)) / float64(len(a)+len(b))
	lambda := (math.Sqrt(ne) + 0.12 + 0.11/math.Sqrt(ne)) * d
	if lambda < 0.2 {
		return d, 1
	}
	sum, sign := 0.0, 1.0
	for k := 1; k <= 100; k++ {
		term := sign * 2 * math.Exp(-2*float64(k*k)*lambda*lambda)
		sum += term
		if math.Abs(term) < 1e-12 {
			break
		}
		sign = -sign
	}
	return d, math.Min(1, math.Max(0, sum))
}

func abMedian(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestTimingKSStatistic checks abKS on samples with a known answer.
func TestTimingKSStatistic(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if d, p := abKS(a, a); d != 0 || p < 0.99 {
		t.Fatalf("identical samples: D=%v p=%v", d, p)
	}
	b := []float64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if d, p := abKS(a, b); d != 1 || p > 0.001 {
		t.Fatalf("disjoint samples: D=%v p=%v", d, p)
	}
	c := []float64{1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5}
	if d, _ := abKS(a, c); math.Abs(d-0.1) > 1e-9 {
		t.Fatalf("shifted samples: D=%v, want 0.1", d)
	}
}

// TestTimingIndistinguishable measures failed logins of an unknown user,
// a wrong password and a locked account (with its right password) over
// POP3 USER/PASS and poppassd, and requires the three distributions to be
// indistinguishable: two-sample KS at alpha 0.001 and medians within 20 ms,
// in a first sample or, if that one shows a difference, in a second.
func TestTimingIndistinguishable(t *testing.T) {
	long := abSkip(t)
	n := 30
	if long {
		n = 200
	}
	e := abNewEnv(t)
	e.cli("", "policy", "set", "--lockout", "off")
	known := e.addUser("kim", "Kim-pass 1")
	lockd := e.addUser("lou", "Lou-pass 1")
	e.cli("", "user", "lock", lockd)
	e.abStart("--failure-delay", "100ms", "--max-failure-delay", "100ms", "--ip-fail-limit", "-1",
		"--verify-cache-ttl", "0", "--max-conns-per-ip", "1000")

	kinds := []timingKind{
		{"unknown", "nobody@example.com", "Some-pass %d"},
		{"wrong", known, "Wrong-pass %d"},
		{"locked", lockd, "Lou-pass 1"},
	}
	pop := func(user, pass string) (time.Duration, string) {
		c := abDial(t, e.addr("pop3"), "+OK")
		defer c.C.Close()
		if r := c.Cmd("USER " + user); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("USER: %q", r)
		}
		s := time.Now()
		r := c.Cmd("PASS " + pass)
		return time.Since(s), r
	}
	pp := func(user, pass string) (time.Duration, string) {
		c := abDial(t, e.addr("poppassd"), "200 ")
		defer c.C.Close()
		if r := c.Cmd("user " + user); !strings.HasPrefix(r, "200 ") {
			t.Fatalf("user: %q", r)
		}
		s := time.Now()
		r := c.Cmd("pass " + pass)
		return time.Since(s), r
	}
	for _, svc := range []struct {
		name string
		try  func(user, pass string) (time.Duration, string)
	}{{"pop3", pop}, {"poppassd", pp}} {
		// A two-stage test: a difference found in the first sample must be
		// found again in a fresh one. A real difference in the server
		// shows up in both; a burst of noise from other work on the
		// machine rarely hits the same way twice (at alpha 0.001 the
		// chance of two independent false alarms is about 1e-6).
		var diffs []string
		for attempt := 1; attempt <= 2; attempt++ {
			diffs = timingRound(t, svc.name, n, kinds, svc.try)
			if len(diffs) == 0 {
				break
			}
			t.Logf("%s attempt %d: %s", svc.name, attempt, strings.Join(diffs, "; "))
		}
		for _, d := range diffs {
			t.Errorf("%s: %s", svc.name, d)
		}
	}
	e.alive()
}

// timingKind is one way a login fails: an unknown user, a wrong password
// or a locked account.
type timingKind struct{ name, user, pass string }

// timingRound times n failed attempts of each kind, interleaved in a
// rotating order, checks that every kind got the same refusal, and returns
// the differences it found between the kinds' timings: a two-sample KS
// p-value below 0.001 or medians 20 ms or more apart.
func timingRound(t *testing.T, svc string, n int, kinds []timingKind, try func(user, pass string) (time.Duration, string)) []string {
	t.Helper()
	samples := make([][]float64, len(kinds))
	replies := make([]map[string]int, len(kinds))
	for k := range kinds {
		replies[k] = map[string]int{}
	}
	for i := range n {
		for o := range kinds {
			k := (i + o) % len(kinds) // rotate the order to cancel drift
			pass := kinds[k].pass
			if strings.Contains(pass, "%d") {
				pass = fmt.Sprintf(pass, i)
			}
			d, r := try(kinds[k].user, pass)
			samples[k] = append(samples[k], float64(d)/float64(time.Millisecond))
			replies[k][r]++
		}
	}
	for k := range kinds {
		if len(replies[k]) != 1 {
			t.Fatalf("%s %s: replies differ: %v", svc, kinds[k].name, replies[k])
		}
		for r := range replies[k] {
			for r0 := range replies[0] {
				if r != r0 {
					t.Fatalf("%s: %s reply %q differs from %s reply %q", svc, kinds[k].name, r, kinds[0].name, r0)
				}
			}
			if strings.HasPrefix(r, "+OK") || strings.HasPrefix(r, "200") {
				t.Fatalf("%s %s: success %q", svc, kinds[k].name, r)
			}
		}
	}
	meds := make([]float64, len(kinds))
	for k := range kinds {
		meds[k] = abMedian(samples[k])
	}
	t.Logf("%s n=%d medians ms: unknown %.2f, wrong %.2f, locked %.2f", svc, n, meds[0], meds[1], meds[2])
	var diffs []string
	for a := range kinds {
		for b := a + 1; b < len(kinds); b++ {
			d, p := abKS(samples[a], samples[b])
			md := math.Abs(meds[a] - meds[b])
			t.Logf("%s %s vs %s: KS D=%.3f p=%.4f, median diff %.2f ms", svc, kinds[a].name, kinds[b].name, d, p, md)
			if p < 0.001 {
				diffs = append(diffs, fmt.Sprintf("%s and %s timings differ (KS D=%.3f p=%.5f)", kinds[a].name, kinds[b].name, d, p))
			}
			if md >= 20 {
				diffs = append(diffs, fmt.Sprintf("medians of %s and %s differ by %.2f ms", kinds[a].name, kinds[b].name, md))
			}
		}
	}
	return diffs
}
