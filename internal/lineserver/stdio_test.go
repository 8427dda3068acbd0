package lineserver

import (
	"bufio"
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestStdioConnPipe(t *testing.T) {
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	defer outR.Close()
	nc := StdioConn(inR, outW)
	c := NewConn(context.Background(), nc)
	defer c.Close()
	if nc.RemoteAddr().Network() != "stdio" {
		t.Fatalf("network %q", nc.RemoteAddr().Network())
	}
	if _, err := c.ReadLine(512, 20*time.Millisecond); !IsTimeout(err) {
		t.Fatalf("err = %v, want timeout", err)
	}
	_, _ = inW.Write([]byte("NOOP\r\n"))
	line, err := c.ReadLine(512, testTimeout)
	if err != nil || string(line) != "NOOP" {
		t.Fatalf("got %q, %v", line, err)
	}
	_ = c.WriteLine("+OK")
	_ = c.Flush()
	_ = outR.SetReadDeadline(time.Now().Add(testTimeout))
	if l, _ := bufio.NewReader(outR).ReadString('\n'); l != "+OK\r\n" {
		t.Fatalf("wrote %q", l)
	}
}

// TestStdioConnBlockingPipe covers the emulated deadline on a descriptor
// the runtime cannot poll.
func TestStdioConnBlockingPipe(t *testing.T) {
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	inR := os.NewFile(uintptr(fds[0]), "blocking-in")
	inW := os.NewFile(uintptr(fds[1]), "blocking-in-w")
	if err := inR.SetReadDeadline(time.Time{}); err == nil {
		t.Skip("descriptor is pollable; fallback not exercised")
	}
	_, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	nc := StdioConn(inR, outW)
	c := NewConn(context.Background(), nc)
	if _, err := c.ReadLine(512, 20*time.Millisecond); !IsTimeout(err) {
		t.Fatalf("err = %v, want timeout", err)
	}
	_, _ = inW.Write([]byte("STAT\n"))
	line, err := c.ReadLine(512, testTimeout)
	if err != nil || string(line) != "STAT" {
		t.Fatalf("got %q, %v", line, err)
	}
	_ = inW.Close() // lets the pending reader goroutine finish
	_, err = c.ReadLine(512, testTimeout)
	if err == nil {
		t.Fatal("read after EOF succeeded")
	}
	_ = c.Close()
}

func TestStdioConnSocket(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "sock")
	peer := os.NewFile(uintptr(fds[1]), "peer")
	pc, err := net.FileConn(peer)
	if err != nil {
		t.Fatal(err)
	}
	peer.Close()
	defer pc.Close()
	nc := StdioConn(f, f) // inetd: stdin and stdout are the same socket
	if nc.RemoteAddr().Network() != "unix" {
		t.Fatalf("network %q, want unix", nc.RemoteAddr().Network())
	}
	c := NewConn(context.Background(), nc)
	if _, err := c.ReadLine(512, 20*time.Millisecond); !IsTimeout(err) {
		t.Fatalf("err = %v, want timeout", err)
	}
	_, _ = pc.Write([]byte("QUIT\r\n"))
	if line, err := c.ReadLine(512, testTimeout); err != nil || string(line) != "QUIT" {
		t.Fatalf("got %q, %v", line, err)
	}
	_ = c.WriteLine("+OK")
	_ = c.Flush()
	_ = pc.SetReadDeadline(time.Now().Add(testTimeout))
	if l, _ := bufio.NewReader(pc).ReadString('\n'); l != "+OK\r\n" {
		t.Fatalf("wrote %q", l)
	}
	_ = c.Close()
}
