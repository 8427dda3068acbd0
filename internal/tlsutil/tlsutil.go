// Package tlsutil holds the TLS pieces shared by the listeners: a
// certificate holder that reloads its files on demand (SIGHUP) without
// touching sessions already running, the server configuration (TLS 1.2
// minimum), and a self-signed certificate generator for `make run` and
// tests.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Reloader serves a certificate loaded from a pair of PEM files and
// replaces it when Reload succeeds. Handshakes in progress and sessions
// already established keep the certificate they started with.
type Reloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// NewReloader loads certFile and keyFile.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. On error the previous certificate stays in
// use.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tlsutil: load %s / %s: %w", r.certFile, r.keyFile, err)
	}
	if len(c.Certificate) > 0 {
		if leaf, perr := x509.ParseCertificate(c.Certificate[0]); perr == nil {
			c.Leaf = leaf
		}
	}
	r.cur.Store(&c)
	return nil
}

// Certificate returns the certificate currently served.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// GetCertificate implements tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.cur.Load()
	if c == nil {
		return nil, errors.New("tlsutil: no certificate loaded")
	}
	return c, nil
}

// ServerConfig returns a server configuration using r: TLS 1.2 minimum,
// Go's default (AEAD, forward-secret) cipher suites for TLS 1.2.
func ServerConfig(r *Reloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// SelfSigned returns a PEM certificate and key (ECDSA P-256, valid for one
// year) for the given host names and IP addresses.
func SelfSigned(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: serial: %w", err)
	}
	cn := "localhost"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"popadm self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: create certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsutil: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// WriteSelfSigned writes a self-signed pair to certFile and keyFile (key
// mode 0600), creating their directories. Existing files are kept unless
// overwrite is set.
func WriteSelfSigned(certFile, keyFile string, overwrite bool, hosts ...string) error {
	if !overwrite {
		if _, err := os.Stat(certFile); err == nil {
			if _, err := os.Stat(keyFile); err == nil {
				return nil
			}
		}
	}
	c, k, err := SelfSigned(hosts...)
	if err != nil {
		return err
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return fmt.Errorf("tlsutil: %w", err)
		}
	}
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		return fmt.Errorf("tlsutil: write key: %w", err)
	}
	if err := os.WriteFile(certFile, c, 0o644); err != nil {
		return fmt.Errorf("tlsutil: write certificate: %w", err)
	}
	return nil
}
