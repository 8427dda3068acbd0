package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReloadKeepsSessions serves TLS with one certificate, reloads a new
// one while a session is open, and checks that the open session still works
// and a new handshake sees the new certificate.
func TestReloadKeepsSessions(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteSelfSigned(cf, kf, false, "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(kf); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	r, err := NewReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(r))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	dial := func() (*tls.Conn, []byte) {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		return c, c.ConnectionState().PeerCertificates[0].Raw
	}
	c1, first := dial()
	defer c1.Close()

	if err := WriteSelfSigned(cf, kf, true, "localhost"); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	c2, second := dial()
	c2.Close()
	if string(first) == string(second) {
		t.Fatal("new handshake still got the old certificate")
	}
	c1.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Write([]byte("ping")); err != nil {
		t.Fatalf("old session broken by reload: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := c1.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("old session echo = %q, %v", buf, err)
	}
}

func TestReloadFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteSelfSigned(cf, kf, false, "localhost"); err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	old := r.Certificate()
	os.WriteFile(cf, []byte("garbage"), 0o644)
	if err := r.Reload(); err == nil {
		t.Fatal("reload of garbage succeeded")
	}
	if r.Certificate() != old {
		t.Fatal("failed reload replaced the certificate")
	}
}

func TestTLS11Refused(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteSelfSigned(cf, kf, false, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	r, _ := NewReloader(cf, kf)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(r))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	c.Close()
	// The certificate verifies for the IP it names.
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cf)
	pool.AppendCertsFromPEM(pem)
	if _, err := r.Certificate().Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("self-signed cert does not verify for its IP: %v", err)
	}
}
