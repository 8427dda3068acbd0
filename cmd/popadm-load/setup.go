package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/pwscheme"
)

// Bounds of the set-up subcommands.
const (
	maxMessages    = 1_000_000
	maxMessageSize = 1 << 30
	maxMaildirs    = 1_000_000
)

// runMaildir creates Maildirs (new/, cur/, tmp/) and fills each with -n
// messages of -size bytes (LF line ends, some body lines starting with a
// dot so that RETR must byte-stuff them). With -fast the messages are
// written straight into cur/ with unique Maildir names and no fsync (for
// large maildrops); otherwise they are delivered through tmp/ into new/ by
// maildrop.Deliver, as an MDA would.
func runMaildir(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "maildir")
	dir := fs.String("dir", "", "Maildir path; %d is replaced by 1..-count")
	count := fs.Int("count", 1, "number of Maildirs when -dir contains %d")
	n := fs.Int("n", 0, "messages per Maildir")
	size := fs.Int("size", 2048, "message size in bytes (at least 256)")
	fast := fs.Bool("fast", false, "write into cur/ directly, without tmp/ and fsync")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	switch {
	case *dir == "":
		return fmt.Errorf("%w: -dir is required", errUsage)
	case *count < 1 || *count > maxMaildirs:
		return fmt.Errorf("%w: -count must be in 1..%d", errUsage, maxMaildirs)
	case *count > 1 && !strings.Contains(*dir, "%d"):
		return fmt.Errorf("%w: -count > 1 needs %%d in -dir", errUsage)
	case *n < 0 || *n > maxMessages:
		return fmt.Errorf("%w: -n must be in 0..%d", errUsage, maxMessages)
	case *size < 256 || *size > maxMessageSize:
		return fmt.Errorf("%w: -size must be in 256..%d", errUsage, maxMessageSize)
	}
	msg := makeMessage(*size)
	host, err := os.Hostname()
	if err != nil || host == "" || strings.ContainsAny(host, "/:") {
		host = "localhost"
	}
	start := time.Now()
	seq := 0
	for d := 1; d <= *count; d++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := userName(*dir, d)
		for _, sub := range []string{"new", "cur", "tmp"} {
			if err := os.MkdirAll(filepath.Join(path, sub), 0o700); err != nil {
				return fmt.Errorf("maildir: %w", err)
			}
		}
		base := time.Now().Unix() - int64(*n) // one second apart, oldest first, none in the future
		for i := 0; i < *n; i++ {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if !*fast {
				if _, err := maildrop.Deliver(path, msg); err != nil {
					return err
				}
				continue
			}
			seq++
			name := strconv.FormatInt(base+int64(i), 10) + ".M" + strconv.Itoa(seq%1_000_000) +
				"P" + strconv.Itoa(os.Getpid()) + "Q" + strconv.Itoa(seq) + "." + host + ":2,"
			if err := os.WriteFile(filepath.Join(path, "cur", name), msg, 0o600); err != nil {
				return fmt.Errorf("maildir: %w", err)
			}
		}
	}
	fmt.Fprintf(e.stderr, "maildir: %d Maildir(s) with %d messages of %d bytes in %.1fs\n",
		*count, *n, *size, time.Since(start).Seconds())
	return nil
}

// makeMessage returns an RFC 5322 message of exactly size bytes with LF
// line ends. Every 50th body line starts with a dot.
func makeMessage(size int) []byte {
	var b strings.Builder
	b.Grow(size + 80)
	b.WriteString("From: Load Test <load@example.com>\n" +
		"To: bench@example.com\n" +
		"Subject: popadm benchmark message\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"Message-ID: <bench@example.com>\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=us-ascii\n\n")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	line := 0
	for b.Len() < size {
		left := size - b.Len()
		width := min(76, left-1)
		if width <= 0 {
			b.WriteByte('\n')
			break
		}
		for j := 0; j < width; j++ {
			c := alphabet[(line*7+j)%len(alphabet)]
			if j == 0 && line%50 == 49 {
				c = '.'
			}
			b.WriteByte(c)
		}
		b.WriteByte('\n')
		line++
	}
	return []byte(b.String())
}

// runUserCSV writes an import CSV ("user,hash") for accounts 1..n of a
// pattern, all sharing one hash of the password, so that importing many
// accounts costs one hash computation.
func runUserCSV(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "usercsv")
	lf.register(fs, e, "users", "n-users", "pass")
	scheme := fs.String("scheme", "SHA512-CRYPT", "password scheme of the shared hash")
	header := fs.Bool("header", true, "write the header line")
	out := fs.String("o", "", "append to this file instead of writing to the standard output")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if !strings.Contains(lf.users, "%d") && lf.nUsers > 1 {
		return fmt.Errorf("%w: -n-users > 1 needs %%d in -users", errUsage)
	}
	hash, err := pwscheme.Generate(*scheme, lf.pass, pwscheme.Params{})
	if err != nil {
		return fmt.Errorf("%w: -scheme %s: %v", errUsage, *scheme, err)
	}
	w := e.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("usercsv: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if *header {
		if err := cw.Write([]string{"user", "hash"}); err != nil {
			return fmt.Errorf("usercsv: %w", err)
		}
	}
	for i := 1; i <= lf.nUsers; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := cw.Write([]string{userName(lf.users, i), hash}); err != nil {
			return fmt.Errorf("usercsv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("usercsv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("usercsv: %w", err)
	}
	return nil
}

// runReady waits until a server's ready file holds valid JSON and prints
// the first address of one service.
func runReady(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ready")
	file := fs.String("file", "", "ready file written by `popadm serve --ready-file`")
	key := fs.String("key", "pop3", "service whose first address is printed (pop3, pop3s, poppassd)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait")
	pid := fs.Int("pid", 0, "give up early when this process is gone")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if *file == "" {
		return fmt.Errorf("%w: -file is required", errUsage)
	}
	if *timeout <= 0 || *timeout > maxDuration {
		return fmt.Errorf("%w: -timeout must be in (0, %v]", errUsage, maxDuration)
	}
	until := time.Now().Add(*timeout)
	for {
		if b, err := os.ReadFile(*file); err == nil {
			var m map[string][]string
			if json.Unmarshal(b, &m) == nil {
				addrs := m[*key]
				if len(addrs) == 0 {
					return fmt.Errorf("ready file has no %q address", *key)
				}
				fmt.Fprintln(e.stdout, addrs[0])
				return nil
			}
		}
		if *pid > 0 && processGone(*pid) {
			return fmt.Errorf("process %d exited before it was ready", *pid)
		}
		if !time.Now().Before(until) {
			return fmt.Errorf("no ready file after %v", *timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// processGone reports whether pid no longer runs (missing, or a zombie
// waiting to be reaped).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}
