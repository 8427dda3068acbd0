package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// passwordEnv names the environment variable that gives the password of
// the test accounts when -pass is not used, so that it stays out of argv.
const passwordEnv = "POPADM_LOAD_PASSWORD"

// Bounds of the common flags.
const (
	maxDuration    = time.Hour
	maxCount       = 100_000_000
	maxConcurrency = 100_000
)

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("popadm-load "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses args and refuses positional arguments. -h gives
// errHelp, which the caller turns into a clean exit.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// errHelp is returned by parseFlags for -h; subcommands return nil for it.
var errHelp = errors.New("help requested")

// helpOK turns errHelp into nil.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// loadFlags are the flags shared by the subcommands that drive a server.
type loadFlags struct {
	addr     string
	users    string
	nUsers   int
	pass     string
	c        int
	duration time.Duration
	max      int
	timeout  time.Duration
	label    string
}

// register adds the flags named in which ("addr", "users", "n-users",
// "pass", "c", "duration", "max", "timeout"; "label" always) to fs.
func (lf *loadFlags) register(fs *flag.FlagSet, e *env, which ...string) {
	for _, w := range which {
		switch w {
		case "addr":
			fs.StringVar(&lf.addr, "addr", "", "server address (loopback only), host:port")
		case "users":
			fs.StringVar(&lf.users, "users", "load%d@example.com", "login name pattern; %d is replaced by 1..N")
		case "n-users":
			fs.IntVar(&lf.nUsers, "n-users", 1, "number of accounts the pattern expands to")
		case "pass":
			fs.StringVar(&lf.pass, "pass", e.getenv(passwordEnv), "password of the test accounts (default $"+passwordEnv+")")
		case "c":
			fs.IntVar(&lf.c, "c", 1, "concurrent connections (workers)")
		case "duration":
			fs.DurationVar(&lf.duration, "duration", 10*time.Second, "time cap of the measurement")
		case "max":
			fs.IntVar(&lf.max, "max", 1_000_000, "count cap of the measurement")
		case "timeout":
			fs.DurationVar(&lf.timeout, "timeout", 30*time.Second, "time allowed for each network read or write")
		default:
			panic("popadm-load: unknown common flag " + w)
		}
	}
	fs.StringVar(&lf.label, "label", "", "label copied into the JSON line (for the report)")
}

// check validates the flags that were registered.
func (lf *loadFlags) check(fs *flag.FlagSet) error {
	var problems []string
	set := func(name string) bool { return fs.Lookup(name) != nil }
	if set("addr") {
		if err := checkLoopback(lf.addr); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if set("users") && strings.Count(lf.users, "%d") > 1 {
		problems = append(problems, "-users may contain %d once")
	}
	if set("n-users") && (lf.nUsers < 1 || lf.nUsers > maxCount) {
		problems = append(problems, fmt.Sprintf("-n-users must be in 1..%d", maxCount))
	}
	if set("pass") && lf.pass == "" {
		problems = append(problems, "no password: set $"+passwordEnv+" or give -pass")
	}
	if set("c") && (lf.c < 1 || lf.c > maxConcurrency) {
		problems = append(problems, fmt.Sprintf("-c must be in 1..%d", maxConcurrency))
	}
	if set("duration") && (lf.duration <= 0 || lf.duration > maxDuration) {
		problems = append(problems, fmt.Sprintf("-duration must be in (0, %v]", maxDuration))
	}
	if set("max") && (lf.max < 1 || lf.max > maxCount) {
		problems = append(problems, fmt.Sprintf("-max must be in 1..%d", maxCount))
	}
	if set("timeout") && (lf.timeout <= 0 || lf.timeout > maxDuration) {
		problems = append(problems, fmt.Sprintf("-timeout must be in (0, %v]", maxDuration))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return nil
}

// userName expands the first %d of pattern to i (1-based).
func userName(pattern string, i int) string {
	return strings.Replace(pattern, "%d", strconv.Itoa(i), 1)
}

// checkLoopback refuses an address whose host is not a loopback IP (or
// "localhost" resolving only to loopback IPs).
func checkLoopback(addr string) error {
	if addr == "" {
		return errors.New("-addr is required")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("address %q: bad port", addr)
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("address %q is not a loopback address; popadm-load only loads servers on this machine", addr)
		}
		return nil
	}
	if host != "localhost" {
		return fmt.Errorf("address %q: host must be a loopback IP or localhost", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("address %q: cannot resolve localhost", addr)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("address %q: localhost resolves to the non-loopback %s", addr, ip.IP)
		}
	}
	return nil
}

// budget hands out at most max turns until a deadline or the end of ctx.
type budget struct {
	ctx   context.Context
	max   int64
	until time.Time
	taken atomic.Int64
}

func newBudget(ctx context.Context, max int, d time.Duration) *budget {
	return &budget{ctx: ctx, max: int64(max), until: time.Now().Add(d)}
}

// take reports whether one more turn may run.
func (b *budget) take() bool {
	if b.ctx.Err() != nil || !time.Now().Before(b.until) {
		return false
	}
	return b.taken.Add(1) <= b.max
}

// errorLog counts errors and keeps the first message.
type errorLog struct {
	mu    sync.Mutex
	n     int
	first string
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		l.first = err.Error()
	}
	l.n++
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *errorLog) firstText() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// samples collects durations from many goroutines.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d ...time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d...)
	s.mu.Unlock()
}

// sorted returns a sorted copy.
func (s *samples) sorted() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.d)
	slices.Sort(out)
	return out
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// ms converts a duration to milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

// round3 rounds x to three decimals.
func round3(x float64) float64 {
	return math.Round(x*1000) / 1000
}

// median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianDuration is median for durations.
func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	if len(xs) == 0 {
		return 0
	}
	return time.Duration(median(xs))
}

// result is the JSON line of one measurement.
type result map[string]any

// emit writes r as one JSON line to the standard output and human as one
// line to the standard error. It returns errFailed when r["ok"] is false.
func emit(e *env, kind, label string, ok bool, r result, human string) error {
	r["kind"] = kind
	r["ok"] = ok
	if label != "" {
		r["label"] = label
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if _, err := fmt.Fprintf(e.stdout, "%s\n", b); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	prefix := kind
	if label != "" {
		prefix = label
	}
	status := ""
	if !ok {
		status = " [FAILED]"
	}
	fmt.Fprintf(e.stderr, "%s: %s%s\n", prefix, human, status)
	if !ok {
		return errFailed
	}
	return nil
}

// closeQuietly closes c, ignoring the error.
func closeQuietly(c io.Closer) { _ = c.Close() }
