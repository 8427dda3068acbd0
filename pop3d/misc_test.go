package pop3d_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
)

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func tlsDial(d *net.Dialer, addr string, cfg *tls.Config) (net.Conn, error) {
	return tls.DialWithDialer(d, "tcp", addr, cfg)
}

// tlsClient upgrades c to TLS after a +OK to STLS.
func tlsClient(c *client, h *harness) *client {
	c.t.Helper()
	tc := tls.Client(c.nc, h.clientTLS)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	return &client{t: c.t, nc: tc, r: bufio.NewReader(tc)}
}
