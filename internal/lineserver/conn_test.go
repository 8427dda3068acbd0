package lineserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// testTimeout bounds every blocking step of a test.
const testTimeout = 5 * time.Second

// pair returns a connected loopback TCP pair: the server side wrapped in a
// Conn, and the client side.
func pair(t *testing.T, ctx context.Context) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(ctx, srv)
	t.Cleanup(func() { c.Close(); cli.Close() })
	_ = cli.SetDeadline(time.Now().Add(testTimeout))
	return c, cli
}

func TestReadLine(t *testing.T) {
	tests := []struct {
		name  string
		input string
		max   int
		want  []string // lines, then the final error
		err   error
	}{
		{"crlf", "STAT\r\nLIST 1\r\n", 512, []string{"STAT", "LIST 1"}, io.EOF},
		{"bare lf", "STAT\nNOOP\n", 512, []string{"STAT", "NOOP"}, io.EOF},
		{"empty line", "\r\n\n", 512, []string{"", ""}, io.EOF},
		{"lone cr kept", "A\rB\r\n", 512, []string{"A\rB"}, io.EOF},
		{"cut off", "STAT\r\nQUI", 512, []string{"STAT"}, io.ErrUnexpectedEOF},
		{"cut off after cr", "QUIT\r", 512, nil, io.ErrUnexpectedEOF},
		{"exactly max with crlf", strings.Repeat("a", 10) + "\r\n", 12, []string{strings.Repeat("a", 10)}, io.EOF},
		{"max plus one", strings.Repeat("a", 11) + "\r\n", 12, nil, ErrLineTooLong},
		{"exactly max with lf", strings.Repeat("a", 11) + "\n", 12, []string{strings.Repeat("a", 11)}, io.EOF},
		{"long without newline", strings.Repeat("a", 100), 12, nil, ErrLineTooLong},
		{"beyond bufio buffer", strings.Repeat("b", 6000) + "\r\n", 8192, []string{strings.Repeat("b", 6000)}, io.EOF},
		{"beyond bufio buffer too long", strings.Repeat("b", 9000) + "\r\n", 8192, nil, ErrLineTooLong},
		{"64k line", strings.Repeat("x", 65536) + "\r\nQUIT\r\n", 512, nil, ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cli := pair(t, context.Background())
			go func() {
				_, _ = cli.Write([]byte(tt.input))
				_ = cli.(*net.TCPConn).CloseWrite()
			}()
			var got []string
			var err error
			for range 10 {
				var line []byte
				line, err = c.ReadLine(tt.max, testTimeout)
				if err != nil {
					break
				}
				got = append(got, string(line))
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("final error = %v, want %v", err, tt.err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadLineByteByByte(t *testing.T) {
	c, cli := pair(t, context.Background())
	go func() {
		for _, b := range []byte("US\rER bob\r\nPASS x y\n") {
			_, _ = cli.Write([]byte{b})
			time.Sleep(time.Millisecond)
		}
	}()
	for _, want := range []string{"US\rER bob", "PASS x y"} {
		line, err := c.ReadLine(512, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if string(line) != want {
			t.Fatalf("got %q, want %q", line, want)
		}
	}
}

func TestReadLineTimeout(t *testing.T) {
	c, _ := pair(t, context.Background())
	_, err := c.ReadLine(512, 20*time.Millisecond)
	if !IsTimeout(err) {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestReadLineCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := pair(t, ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.ReadLine(512, time.Hour)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("ReadLine not interrupted by cancel")
	}
	// Later reads fail at once too.
	if _, err := c.ReadLine(512, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("second ReadLine err = %v", err)
	}
}

func TestCancelDoesNotInterruptWrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, cli := pair(t, ctx)
	cancel()
	if err := c.WriteLine("+OK still writing"); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("flush after cancel: %v", err)
	}
	line, err := bufio.NewReader(cli).ReadString('\n')
	if err != nil || line != "+OK still writing\r\n" {
		t.Fatalf("got %q, %v", line, err)
	}
}

func TestWriteAndStream(t *testing.T) {
	c, cli := pair(t, context.Background())
	c.WriteTimeout = testTimeout
	if err := c.Printf("+OK %d %s", 2, "x"); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789", 10000) // larger than the write buffer
	done := make(chan error, 1)
	go func() {
		done <- c.Stream(testTimeout, func(w *bufio.Writer) error {
			_, err := w.WriteString(big + "\r\n.\r\n")
			return err
		})
	}()
	r := bufio.NewReader(cli)
	first, _ := r.ReadString('\n')
	if first != "+OK 2 x\r\n" {
		t.Fatalf("first line %q", first)
	}
	body, _ := r.ReadString('\n')
	if body != big+"\r\n" {
		t.Fatalf("body of %d octets, want %d", len(body), len(big)+2)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A large non-stream write long after an earlier flush still works:
	// the deadline is armed per network write.
	time.Sleep(20 * time.Millisecond)
	c.WriteTimeout = 10 * time.Millisecond
	go func() { _, _ = io.Copy(io.Discard, r) }()
	for range 20 {
		if err := c.WriteLine(strings.Repeat("y", 1000)); err != nil {
			t.Fatalf("write after idle: %v", err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteTimeout(t *testing.T) {
	c, _ := pair(t, context.Background()) // the client never reads
	c.WriteTimeout = 50 * time.Millisecond
	var err error
	for range 10000 {
		if err = c.WriteLine(strings.Repeat("z", 1000)); err != nil {
			break
		}
	}
	if err == nil {
		err = c.Flush()
	}
	if !IsTimeout(err) {
		t.Fatalf("err = %v, want a write timeout", err)
	}
}

func TestPeek(t *testing.T) {
	c, cli := pair(t, context.Background())
	_, _ = cli.Write([]byte{0x16, 0x03, 0x01})
	b, err := c.Peek(1, testTimeout)
	if err != nil || b[0] != 0x16 {
		t.Fatalf("Peek = %x, %v", b, err)
	}
	if c.Buffered() != 3 {
		t.Fatalf("Buffered = %d, want 3", c.Buffered())
	}
}

func TestStartTLSDiscardsPipelinedPlaintext(t *testing.T) {
	scfg, ccfg := testkit.TLSConfigs(t)
	c, cli := pair(t, context.Background())
	// The client pipelines a command after STLS (CVE-2011-0411).
	if _, err := cli.Write([]byte("STLS\r\nUSER injected\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := c.ReadLine(512, testTimeout)
	if err != nil || string(line) != "STLS" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// Wait until the pipelined bytes are in the buffer or provably not.
	for range 100 {
		if c.Buffered() > 0 {
			break
		}
		if _, err := c.Peek(1, 10*time.Millisecond); err == nil {
			break
		}
	}
	if c.Buffered() == 0 {
		t.Fatal("pipelined bytes not buffered; test cannot check discarding")
	}
	_ = c.WriteLine("+OK Begin TLS negotiation")
	_ = c.Flush()
	r := bufio.NewReader(cli)
	if l, _ := r.ReadString('\n'); l != "+OK Begin TLS negotiation\r\n" {
		t.Fatalf("reply %q", l)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.StartTLS(scfg, testTimeout) }()
	tc := tls.Client(cli, ccfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if c.TLS() == nil || c.NetConn() == net.Conn(nil) {
		t.Fatal("TLS state not set")
	}
	if c.Buffered() != 0 {
		t.Fatalf("Buffered = %d after StartTLS", c.Buffered())
	}
	_, _ = tc.Write([]byte("CAPA\r\n"))
	line, err = c.ReadLine(512, testTimeout)
	if err != nil || string(line) != "CAPA" {
		t.Fatalf("first line over TLS %q, %v (plaintext leaked?)", line, err)
	}
	if err := c.StartTLS(scfg, testTimeout); err == nil {
		t.Fatal("second StartTLS succeeded")
	}
}

func TestStartTLSHandshakeTimeout(t *testing.T) {
	scfg, _ := testkit.TLSConfigs(t)
	c, _ := pair(t, context.Background()) // the client never speaks TLS
	err := c.StartTLS(scfg, 30*time.Millisecond)
	if err == nil || !IsTimeout(err) {
		t.Fatalf("err = %v, want a timeout", err)
	}
}
