package pop3d_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// ExampleServer runs a POP3 server over an in-memory maildrop and fetches
// a message with a minimal client.
func ExampleServer() {
	be := memdrop.New()
	be.AddUser("alice", "open sesame")
	be.AddMessage("alice", []byte("Subject: hello\n\nHi Alice!\n"))

	srv := pop3d.New(&pop3d.Options{
		Backend:        be,
		Hostname:       "pop.example.org",
		Implementation: "popadm example",
		SASLMechanisms: memdrop.Mechanisms,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	say := func(cmd string) {
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		line, _ := r.ReadString('\n')
		fmt.Println(strings.TrimRight(line, "\r\n"))
	}
	say("") // greeting
	say("USER alice")
	say("PASS open sesame")
	say("RETR 1")
	for {
		line, err := r.ReadString('\n')
		if err != nil || line == ".\r\n" {
			break
		}
		fmt.Println(strings.TrimRight(line, "\r\n"))
	}
	say("QUIT")
	// Output:
	// +OK POP3 server ready
	// +OK send PASS
	// +OK alice's maildrop has 1 messages (29 octets)
	// +OK 29 octets
	// Subject: hello
	//
	// Hi Alice!
	// +OK bye, 0 messages deleted
}
