package maildrop

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger returns a logger that records everything into the returned
// buffer.
func newLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// newMaildir creates an empty Maildir in a temporary directory.
func newMaildir(t testing.TB) string {
	t.Helper()
	return newMaildirAt(t, filepath.Join(t.TempDir(), "Maildir"))
}

// newMaildirAt creates an empty Maildir at dir and returns dir.
func newMaildirAt(t testing.TB, dir string) string {
	t.Helper()
	if err := makeMaildir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// makeMaildir creates dir with new/, cur/ and tmp/.
func makeMaildir(dir string) error {
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// put writes a message file directly.
func put(t testing.TB, dir, sub, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, sub, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openT opens dir and registers Close as cleanup.
func openT(t testing.TB, dir string, opts Options) *Maildrop {
	t.Helper()
	m, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// readMsg reads message i through Maildrop.Open.
func readMsg(t testing.TB, m *Maildrop, i int) []byte {
	t.Helper()
	r, err := m.Open(i)
	if err != nil {
		t.Fatalf("Open(%d): %v", i, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read message %d: %v", i, err)
	}
	return b
}

// bases returns the base names of msgs in order.
func bases(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Base
	}
	return out
}
