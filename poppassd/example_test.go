package poppassd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/popadm/popadm/poppassd"
)

// mapBackend keeps passwords in a map.
type mapBackend struct {
	mu        sync.Mutex
	passwords map[string]string
}

func (b *mapBackend) Authenticate(ctx context.Context, c *poppassd.ConnInfo, user, password string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.passwords[user]; !ok || p != password {
		return poppassd.ErrAuthFailed
	}
	return nil
}

func (b *mapBackend) ChangePassword(ctx context.Context, c *poppassd.ConnInfo, user, oldPassword, newPassword string) error {
	if len(newPassword) < 8 {
		return &poppassd.PolicyError{Msg: "Password must have at least 8 characters."}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.passwords[user] != oldPassword {
		return poppassd.ErrAuthFailed
	}
	b.passwords[user] = newPassword
	return nil
}

func (b *mapBackend) password(user string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.passwords[user]
}

// A password change as Eudora makes it, against a server on loopback.
func ExampleServer() {
	be := &mapBackend{passwords: map[string]string{"alice": "old secret"}}
	srv := poppassd.New(&poppassd.Options{Backend: be, Version: "1.0", Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	r := bufio.NewReader(conn)
	reply := func() {
		line, _ := r.ReadString('\n')
		fmt.Println("S:", strings.TrimRight(line, "\r\n"))
	}
	reply()
	for _, cmd := range []string{"user alice", "pass old secret", "newpass new secret", "quit"} {
		fmt.Println("C:", cmd)
		fmt.Fprintf(conn, "%s\r\n", cmd)
		reply()
	}
	conn.Close()

	srv.Close()
	fmt.Println(errors.Is(<-done, poppassd.ErrServerClosed), be.password("alice"))
	// Output:
	// S: 200 poppassd v1.0 hello, who are you?
	// C: user alice
	// S: 200 Your password please.
	// C: pass old secret
	// S: 200 Your new password please.
	// C: newpass new secret
	// S: 200 Password changed, thank-you.
	// C: quit
	// S: 200 Bye.
	// true new secret
}
