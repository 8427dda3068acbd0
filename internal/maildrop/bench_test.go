package maildrop

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchMessages is the size of the generated maildrop.
const benchMessages = 100_000

// genMaildrop writes n small messages, half in new/ and half in cur/ with
// flags, with Postfix-style names and no W= (so sizes must be counted).
func genMaildrop(b *testing.B, n int) string {
	b.Helper()
	dir := newMaildir(b)
	body := []byte("From: a@example.com\nSubject: message\n\nline one\nline two\n")
	for i := range n {
		base := strconv.Itoa(1700000000+i/10) + ".M" + strconv.Itoa(i%10*1000) + "P4242Q" + strconv.Itoa(i) + ".bench.example.com"
		sub, name := "new", base
		if i%2 == 1 {
			sub, name = "cur", base+":2,S"
		}
		if err := os.WriteFile(filepath.Join(dir, sub, name), body, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	// Let writeback of the new files finish so that it does not slow down
	// the measured directory reads.
	syscall.Sync()
	return dir
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
	dir := genMaildrop(b, benchMessages)
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
		for b.Loop() {
			for _, sub := range subdirs {
				if _, _, err := readNames(filepath.Join(dir, sub)); err != nil {
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

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
