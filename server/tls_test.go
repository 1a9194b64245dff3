package server_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
	"github.com/micro/platform/server"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "platform test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// natsHandshake speaks the mesh server's protocol over conn: it reads the server's INFO,
// sends CONNECT with user and password and a PING, and returns the server's answer
// line ("PONG" when admitted, "-ERR ..." when not).
func natsHandshake(t *testing.T, conn io.ReadWriter, user, pass string) string {
	t.Helper()
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("the mesh server's first line is %q (%v), want its INFO", info, err)
	}
	connect, _ := json.Marshal(map[string]any{"user": user, "pass": pass, "verbose": false, "pedantic": false, "lang": "go", "version": "test"})
	if _, err := fmt.Fprintf(conn, "CONNECT %s\r\nPING\r\n", connect); err != nil {
		t.Fatal(err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "closed: " + err.Error()
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "INFO ") || line == "+OK" {
			continue
		}
		return line
	}
}

// TestMeshTunnelOverTLS: with tls_cert and tls_key the server answers HTTPS only, and a
// developer's connection to a namespace's mesh travels through its address and TLS: the
// mesh server behind it admits the developer's credential and refuses a wrong one.
func TestMeshTunnelOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the platform")
	}
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, t.TempDir())
	app, _, _ := startServer(t, dir, func(c *server.Config) { c.TLSCert, c.TLSKey = cert, key })
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := client.New("https://"+app.Addr(), client.WithToken(strings.TrimSpace(string(tok))), client.WithHTTPClient(hc))
	ctx := context.Background()
	if _, err := c.CreateNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + app.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("a TLS server answers plain HTTP")
		}
	}

	g, err := c.Connect(ctx, platform.ConnectRequest{Namespace: "acme", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, pass, want string }{
		{"the credential", g.Secret, "PONG"},
		{"a wrong secret", g.Secret + "x", "-ERR 'Authorization Violation'"},
	} {
		conn, err := c.DialMesh(ctx, "acme")
		if err != nil {
			t.Fatalf("%s: open the tunnel: %v", tc.name, err)
		}
		if got := natsHandshake(t, conn, g.User, tc.pass); got != tc.want {
			t.Errorf("%s through the TLS tunnel: the mesh answered %q, want %q", tc.name, got, tc.want)
		}
		conn.Close()
	}
	if _, err := c.DialMesh(ctx, "globex"); platform.ErrorCode(err) != platform.EFORBIDDEN && platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("a tunnel to a namespace that does not exist: %v", err)
	}
}

// TestTLSConfigNeedsBoth: one of tls_cert and tls_key alone is refused, naming both.
func TestTLSConfigNeedsBoth(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.TLSCert = "/etc/tls.crt"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tls_cert and tls_key") {
		t.Fatalf("Validate with a certificate and no key = %v", err)
	}
}
