package server

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// certRecheck is how often the certificate files are looked at again for a change.
const certRecheck = time.Minute

// certFiles serves the certificate of a PEM certificate and key file pair (Config.TLSCert,
// TLSKey), reading them again when either changed, at most once every certRecheck, so a
// renewed certificate (cert-manager, certbot) is served without a restart. A pair that
// no longer loads keeps the last good one serving, and says so in the error log once
// per change.
type certFiles struct {
	cert, key string

	mu      sync.Mutex
	current *tls.Certificate
	stamp   string // modification times and sizes of the pair the current one came from
	checked time.Time
}

// newCertFiles loads the pair: EINVALID, naming the files, when it does not load.
func newCertFiles(cert, key string) (*certFiles, error) {
	c := &certFiles{cert: cert, key: key}
	crt, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "tls_cert %s and tls_key %s: %v", cert, key, err).
			WithHint("give a PEM certificate (its chain after it) and its PEM private key")
	}
	c.current, c.stamp, c.checked = &crt, c.fileStamp(), time.Now()
	return c, nil
}

// fileStamp says when and how big the two files are; "" when one cannot be read.
func (c *certFiles) fileStamp() string {
	var s string
	for _, f := range []string{c.cert, c.key} {
		fi, err := os.Stat(f)
		if err != nil {
			return ""
		}
		s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return s
}

// get implements tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certRecheck {
		c.checked = now
		if st := c.fileStamp(); st != "" && st != c.stamp {
			c.stamp = st
			if crt, err := tls.LoadX509KeyPair(c.cert, c.key); err == nil {
				c.current = &crt
			}
		}
	}
	return c.current, nil
}

// tlsConfig is the API server's TLS configuration for cfg, nil for plain HTTP.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cf, err := newCertFiles(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	return &tls.Config{GetCertificate: cf.get, MinVersion: tls.VersionTLS12}, nil
}
