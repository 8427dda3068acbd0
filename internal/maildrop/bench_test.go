package maildrop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchMessages is the size of the generated maildrop.
const benchMessages = 100_000

// benchFixtures holds the 100,000-message maildrop, built once per
// process and shared by every run of BenchmarkOpen100k (-count); TestMain
// removes it.
var benchFixtures struct {
	once100k sync.Once
	root     string // os.MkdirTemp directory holding it, if made
	dir100k  string
	err100k  error
}

// TestMain runs the tests and benchmarks and removes the shared benchmark
// fixture afterwards.
func TestMain(m *testing.M) {
	code := m.Run()
	if root := benchFixtures.root; root != "" {
		if err := os.RemoveAll(root); err != nil {
			fmt.Fprintln(os.Stderr, "maildrop tests:", err)
		}
	}
	os.Exit(code)
}

// maildrop100k returns the 100,000-message maildrop, built on first use
// in this process.
func maildrop100k(b *testing.B) string {
	b.Helper()
	f := &benchFixtures
	f.once100k.Do(func() {
		f.root, f.err100k = os.MkdirTemp("", "maildrop-bench-")
		if f.err100k == nil {
			f.dir100k, f.err100k = genMaildrop(filepath.Join(f.root, "Maildir"), benchMessages)
		}
	})
	if f.err100k != nil {
		b.Fatal(f.err100k)
	}
	return f.dir100k
}

// genMaildrop writes n small messages into a new maildir at dir, half in
// new/ and half in cur/ with flags, with Postfix-style names and no W=
// (so sizes must be counted).
func genMaildrop(dir string, n int) (string, error) {
	if err := makeMaildir(dir); err != nil {
		return "", err
	}
	body := []byte("From: a@example.com\nSubject: message\n\nline one\nline two\n")
	for i := range n {
		base := strconv.Itoa(1700000000+i/10) + ".M" + strconv.Itoa(i%10*1000) + "P4242Q" + strconv.Itoa(i) + ".bench.example.com"
		sub, name := "new", base
		if i%2 == 1 {
			sub, name = "cur", base+":2,S"
		}
		if err := os.WriteFile(filepath.Join(dir, sub, name), body, 0o600); err != nil {
			return "", err
		}
	}
	// Let writeback of the new files finish so that it does not slow down
	// the measured directory reads.
	syscall.Sync()
	return dir, nil
}

// openList opens dir and formats a UIDL listing as the POP3 layer would.
func openList(b *testing.B, dir string) int {
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	msgs := m.Messages()
	buf := make([]byte, 0, 64)
	total := 0
	for i, msg := range msgs {
		buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
		buf = append(buf, ' ')
		buf = append(buf, msg.UIDL...)
		buf = append(buf, '\r', '\n')
		total += len(buf)
	}
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	if len(msgs) != benchMessages {
		b.Fatalf("%d messages, want %d", len(msgs), benchMessages)
	}
	return total
}

// BenchmarkOpen100k measures Open + Messages + a UIDL listing + Close on a
// 100,000-message maildrop, without (cold) and with (warm) a size cache;
// "readdir" is the cost of listing the two directories alone.
func BenchmarkOpen100k(b *testing.B) {
	dir := maildrop100k(b)
	cache := filepath.Join(dir, cacheName)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := os.Remove(cache); err != nil && !os.IsNotExist(err) {
				b.Fatal(err)
			}
			b.StartTimer()
			openList(b, dir)
		}
	})
	// The floor: listing new/ and cur/ and nothing else.
	b.Run("readdir", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			for _, sub := range subdirs {
				if _, _, err := readNames(filepath.Join(dir, sub), &buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		openList(b, dir) // make sure the cache exists
		if _, err := os.Stat(cache); err != nil {
			b.Fatal(err)
		}
		cpu0 := cpuTime(b)
		for b.Loop() {
			openList(b, dir)
		}
		// CPU time used by the whole process (GC included): unlike wall
		// time, it hardly depends on what else runs on the machine.
		b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
}

// reportCPU reports the process CPU time (all threads, GC included) per
// operation since cpu0: unlike wall time it hardly depends on what else
// runs on the machine.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// smallMessages is the size of the maildrops of BenchmarkOpenCloseSmall:
// a typical POP3 user who leaves mail on the server.
const smallMessages = 20

// openCloseSmall is one POP3 session that only lists: Open, Messages,
// Commit with nothing deleted (QUIT), Close.
func openCloseSmall(b *testing.B, dir string) {
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(m.Messages()); n != smallMessages {
		b.Fatalf("%d messages, want %d", n, smallMessages)
	}
	if err := m.Commit(nil); err != nil {
		b.Fatal(err)
	}
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpenCloseSmall measures the per-login cost of a session on a
// 20-message maildrop whose size cache is warm: "serial" on one maildrop,
// "parallel" with GOMAXPROCS goroutines (run with -cpu 8), each on a
// maildrop of its own.
func BenchmarkOpenCloseSmall(b *testing.B) {
	const drops = 8
	dirs := make([]string, drops)
	root := b.TempDir()
	for i := range dirs {
		dir, err := genMaildrop(filepath.Join(root, "m"+strconv.Itoa(i)), smallMessages)
		if err != nil {
			b.Fatal(err)
		}
		dirs[i] = dir
		openCloseSmall(b, dir) // writes the size cache
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime(b)
		for b.Loop() {
			openCloseSmall(b, dirs[0])
		}
		reportCPU(b, cpu0)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime(b)
		var next atomic.Int32
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)-1) % drops
			if int(next.Load()) > drops {
				// More goroutines than maildrops would make sessions
				// collide on a lock; -cpu must be at most 8.
				b.Error("more than 8 parallel goroutines")
				return
			}
			for pb.Next() {
				openCloseSmall(b, dirs[i])
			}
		})
		reportCPU(b, cpu0)
	})
}
