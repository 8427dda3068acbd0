package testkit

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"
)

const (
	// readyTimeout bounds the wait for a server's ready file.
	readyTimeout = 20 * time.Second
	// stopTimeout is how long Stop waits after SIGINT before SIGKILL.
	stopTimeout = 15 * time.Second
)

// Server is one running `popadm serve` process, started by StartServer.
type Server struct {
	// Cmd is the process's command.
	Cmd *exec.Cmd
	// Addrs are the listener addresses by service ("pop3", "pop3s",
	// "poppassd", ...), as the ready file lists them.
	Addrs map[string][]string
	done  chan struct{}
	err   error
}

// StartServer starts cmd, a prepared `popadm serve` command whose
// --ready-file is ready, with its stdout and stderr going to log. It
// removes a stale ready file first, then waits up to 20 s for the ready
// file; t fails, with the log, when the process exits first or the time
// runs out. The process is stopped at the end of the test.
func StartServer(t testing.TB, cmd *exec.Cmd, ready string, log *SyncBuffer) *Server {
	t.Helper()
	os.Remove(ready)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Cmd: cmd, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(readyTimeout)
	for {
		var addrs map[string][]string
		b, err := os.ReadFile(ready)
		if err == nil && len(b) > 0 && json.Unmarshal(b, &addrs) == nil {
			s.Addrs = addrs
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("server exited before it was ready (%v); log:\n%s", s.err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready; log:\n%s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Done returns a channel that is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns the error of the process's exit, nil for exit status 0. It
// is meaningful once Done is closed.
func (s *Server) Err() error { return s.err }

// Exited reports whether the process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error { return s.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the process to end.
func (s *Server) Kill() {
	_ = s.Cmd.Process.Kill()
	<-s.done
}

// Stop ends the process with SIGINT, or SIGKILL when it has not ended
// 15 s later, and waits for it to end. It does nothing once the process
// has exited.
func (s *Server) Stop() {
	if s.Exited() {
		return
	}
	_ = s.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.Kill()
	}
}

// Addr returns the first listener address of service; t fails when there
// is none.
func (s *Server) Addr(t testing.TB, service string) string {
	t.Helper()
	a := s.Addrs[service]
	if len(a) == 0 {
		t.Fatalf("no %s listener in %v", service, s.Addrs)
	}
	return a[0]
}
