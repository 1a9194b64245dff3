package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/micro/platform"
)

// smtpServer is a real SMTP server (go-smtp) on 127.0.0.1:0 that records what it
// accepted. It offers PLAIN auth (over plain text too, as loopback allows) and STARTTLS
// when tls is set.
type smtpServer struct {
	host string
	port string

	user, pass string         // when set, MAIL needs this login
	refuse     map[string]int // recipient → the reply code that refuses it
	refuseData int            // the reply code that refuses every message's data

	mu    sync.Mutex
	mails []received
}

type received struct {
	authUser string
	from     string
	to       []string
	data     []byte
}

type smtpServerOpts struct {
	user, pass string
	refuse     map[string]int
	refuseData int
	starttls   *tls.Config // offered with STARTTLS
	implicit   *tls.Config // the listener is TLS
}

func startSMTP(t *testing.T, o smtpServerOpts) *smtpServer {
	t.Helper()
	s := &smtpServer{user: o.user, pass: o.pass, refuse: o.refuse, refuseData: o.refuseData}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = o.starttls
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicit != nil {
		l = tls.NewListener(l, o.implicit)
	}
	s.host, s.port, _ = net.SplitHostPort(l.Addr().String())
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mails...)
}

type smtpSession struct {
	srv *smtpServer
	r   received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			return smtp.ErrAuthFailed
		}
		s.r.authUser = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.r.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.r.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if code := s.srv.refuse[to]; code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "no such mailbox"}
	}
	s.r.to = append(s.r.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if code := s.srv.refuseData; code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 6, 0}, Message: "message content rejected"}
	}
	s.r.data = b
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.r)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.r = received{authUser: s.r.authUser} }
func (s *smtpSession) Logout() error { return nil }

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and a client
// configuration that trusts it.
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// emailChannel is a channel to s.
func emailChannel(s *smtpServer, config map[string]string, secret string) Channel {
	c := map[string]string{
		"host": s.host, "port": s.port,
		"from": "Platform Alerts <alerts@acme.io>",
		"to":   "ops@acme.io, Oncall <oncall@acme.io>",
	}
	for k, v := range config {
		c[k] = v
	}
	return Channel{ID: "ch1", Kind: platform.ChannelEmail, Config: c, Secret: secret}
}

// parsedMail is a received mail read back: headers, plain text and HTML parts.
type parsedMail struct {
	header     netmail.Header
	subject    string
	text, html string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("received mail does not parse: %v", err)
	}
	p := parsedMail{header: msg.Header}
	p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			p.text = string(b)
		case "text/html":
			p.html = string(b)
		}
	}
	return p
}

func TestEmailStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	s := startSMTP(t, smtpServerOpts{user: "alerts", pass: "s3cret-pass", starttls: serverTLS})
	opts := testOptions()
	opts.TLSConfig = clientTLS
	email := Senders(opts)[platform.ChannelEmail]
	ch := emailChannel(s, map[string]string{"username": "alerts"}, "s3cret-pass")

	firing, resolved := testMessage(Firing), testMessage(Resolved)
	for _, m := range []Message{firing, resolved} {
		if err := email.Send(testCtx(t), ch, m); err != nil {
			t.Fatalf("Send %s: %v", m.Kind, err)
		}
	}
	mails := s.received()
	if len(mails) != 2 {
		t.Fatalf("server received %d mails, want 2", len(mails))
	}
	got := mails[0]
	if got.authUser != "alerts" || got.from != "alerts@acme.io" {
		t.Errorf("auth user %q, MAIL FROM %q", got.authUser, got.from)
	}
	if strings.Join(got.to, ",") != "ops@acme.io,oncall@acme.io" {
		t.Errorf("RCPT TO %v", got.to)
	}
	p := parseMail(t, got.data)
	if p.subject != "[FIRING] helloworld crash loop in acme" {
		t.Errorf("Subject %q", p.subject)
	}
	if id := p.header.Get("Message-ID"); id != "<notify.ntf-firing-0001@acme.io>" {
		t.Errorf("Message-ID %q", id)
	}
	thread := p.header.Get("References")
	if !strings.HasPrefix(thread, "<alert.") || !strings.HasSuffix(thread, "@acme.io>") || p.header.Get("In-Reply-To") != thread {
		t.Errorf("References %q, In-Reply-To %q", thread, p.header.Get("In-Reply-To"))
	}
	if date, err := p.header.Date(); err != nil || !date.Equal(testSince.Add(time.Hour)) {
		t.Errorf("Date %v (%v), want the clock's %v", date, err, testSince.Add(time.Hour))
	}
	if p.header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted %q", p.header.Get("Auto-Submitted"))
	}
	if to := p.header.Get("To"); !strings.Contains(to, "ops@acme.io") || !strings.Contains(to, "oncall@acme.io") {
		t.Errorf("To %q", to)
	}
	for _, want := range []string{
		"helloworld is crash-looping in local",              // what
		"namespace acme, service helloworld, region local",  // where
		"firing since 2025-03-04 05:06:07 UTC",              // since when
		"panic: nil map",                                    // reason
		"https://platform.example/acme/services/helloworld", // the link
		"critical",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text body lacks %q:\n%s", want, p.text)
		}
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML body lacks %q:\n%s", want, p.html)
		}
	}
	if !strings.Contains(p.html, `<a href="https://platform.example/acme/services/helloworld">`) {
		t.Errorf("HTML body has no dashboard link:\n%s", p.html)
	}

	r := parseMail(t, mails[1].data)
	if r.subject != "[RESOLVED] helloworld crash loop in acme" {
		t.Errorf("resolved Subject %q", r.subject)
	}
	if r.header.Get("References") != thread || r.header.Get("Message-ID") == p.header.Get("Message-ID") {
		t.Errorf("resolved: References %q (want %q), Message-ID %q", r.header.Get("References"), thread, r.header.Get("Message-ID"))
	}
	if !strings.Contains(r.text, "resolved; it had been firing since") {
		t.Errorf("resolved text:\n%s", r.text)
	}
}

func TestEmailResendKeepsMessageID(t *testing.T) {
	t.Parallel()
	s := startSMTP(t, smtpServerOpts{})
	email := Senders(testOptions())[platform.ChannelEmail]
	ch := emailChannel(s, map[string]string{"tls": "none"}, "")
	m := testMessage(Firing)
	m.ID = "id with spaces/and slashes" // not safe in a Message-ID as is: hashed
	for range 2 {
		if err := email.Send(testCtx(t), ch, m); err != nil {
			t.Fatal(err)
		}
	}
	mails := s.received()
	a, b := parseMail(t, mails[0].data), parseMail(t, mails[1].data)
	id := a.header.Get("Message-ID")
	if id != b.header.Get("Message-ID") || strings.Contains(id, " ") || !strings.HasPrefix(id, "<notify.") {
		t.Errorf("Message-IDs %q and %q, want the same and well-formed", id, b.header.Get("Message-ID"))
	}
	if mails[0].authUser != "" {
		t.Error("authenticated without a username")
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	s := startSMTP(t, smtpServerOpts{user: "u", pass: "pw-implicit", implicit: serverTLS})
	opts := testOptions()
	opts.TLSConfig = clientTLS
	ch := emailChannel(s, map[string]string{"tls": "tls", "username": "u"}, "pw-implicit")
	if err := Senders(opts)[platform.ChannelEmail].Send(testCtx(t), ch, testMessage(Test)); err != nil {
		t.Fatal(err)
	}
	if p := parseMail(t, s.received()[0].data); p.subject != "[TEST] helloworld crash loop in acme" {
		t.Errorf("Subject %q", p.subject)
	}
}

func TestEmailPlainAuthOverLoopback(t *testing.T) {
	t.Parallel()
	s := startSMTP(t, smtpServerOpts{user: "relay", pass: "loopback-pw"})
	ch := emailChannel(s, map[string]string{"tls": "none", "username": "relay"}, "loopback-pw")
	if err := Senders(testOptions())[platform.ChannelEmail].Send(testCtx(t), ch, testMessage(Firing)); err != nil {
		t.Fatal(err)
	}
	if got := s.received(); len(got) != 1 || got[0].authUser != "relay" {
		t.Errorf("received %+v", got)
	}
}

func TestEmailFailures(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	const secret = "the-smtp-password"
	tests := []struct {
		name      string
		server    smtpServerOpts
		config    map[string]string
		secret    string
		permanent bool
		want      string // in the error
	}{
		{
			name:      "recipient refused 550",
			server:    smtpServerOpts{refuse: map[string]int{"oncall@acme.io": 550}},
			config:    map[string]string{"tls": "none"},
			permanent: true,
			want:      "oncall@acme.io",
		},
		{
			name:      "data refused 554",
			server:    smtpServerOpts{refuseData: 554},
			config:    map[string]string{"tls": "none"},
			permanent: true,
			want:      "554",
		},
		{
			name:   "data deferred 452",
			server: smtpServerOpts{refuseData: 452},
			config: map[string]string{"tls": "none"},
			want:   "452",
		},
		{
			name:   "recipient deferred 451",
			server: smtpServerOpts{refuse: map[string]int{"ops@acme.io": 451}},
			config: map[string]string{"tls": "none"},
			want:   "451",
		},
		{
			name:      "wrong password 535",
			server:    smtpServerOpts{user: "u", pass: "other", starttls: serverTLS},
			config:    map[string]string{"username": "u"},
			secret:    secret,
			permanent: true,
			want:      "535",
		},
		{
			name:   "STARTTLS required, not offered",
			server: smtpServerOpts{},
			config: map[string]string{},
			want:   "STARTTLS",
		},
		{
			name:      "tls none to a remote host",
			server:    smtpServerOpts{},
			config:    map[string]string{"tls": "none", "host": "smtp.example.com"},
			permanent: true,
			want:      "loopback",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startSMTP(t, tt.server)
			opts := testOptions()
			opts.TLSConfig = clientTLS
			err := Senders(opts)[platform.ChannelEmail].Send(testCtx(t), emailChannel(s, tt.config, tt.secret), testMessage(Firing))
			wantClass(t, err, tt.permanent)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			mustNotLeak(t, err, secret)
			t.Log(err)
			if n := len(s.received()); n != 0 {
				t.Errorf("server received %d mails", n)
			}
		})
	}
}

func TestEmailServerDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ch := Channel{Kind: platform.ChannelEmail, Config: map[string]string{
		"host": "127.0.0.1", "port": strconv.Itoa(port), "from": "a@acme.io", "to": "b@acme.io", "tls": "none",
	}}
	err = Senders(testOptions())[platform.ChannelEmail].Send(testCtx(t), ch, testMessage(Firing))
	wantClass(t, err, false)
	t.Log(err)
}

func TestEmailContextDeadline(t *testing.T) {
	t.Parallel()
	// A server that accepts and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	ch := Channel{Kind: platform.ChannelEmail, Config: map[string]string{
		"host": "127.0.0.1", "port": fmt.Sprint(l.Addr().(*net.TCPAddr).Port),
		"from": "a@acme.io", "to": "b@acme.io", "tls": "none",
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = Senders(testOptions())[platform.ChannelEmail].Send(ctx, ch, testMessage(Firing))
	wantClass(t, err, false)
	if time.Since(start) > 3*time.Second {
		t.Errorf("Send took %v past a 300ms deadline", time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap the context's", err)
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, want string }{
		{"ntf-1", "notify.ntf-1@acme.io"},
		{"01HQ.ABC_def", "notify.01HQ.ABC_def@acme.io"},
		{"a b", "notify." + "c8687a08aa5d6ed2044328fa6a697ab8" + "@acme.io"},
		{"x..y", ""}, // hashed: just check it is well-formed
	}
	for _, tt := range tests {
		got := messageID("notify", tt.id, "acme.io")
		if tt.want != "" && got != tt.want {
			t.Errorf("messageID(%q) = %q, want %q", tt.id, got, tt.want)
		}
		if _, err := netmail.ParseAddress("<" + got + ">"); err != nil {
			t.Errorf("messageID(%q) = %q: not addr-spec shaped: %v", tt.id, got, err)
		}
		if got != messageID("notify", tt.id, "acme.io") {
			t.Errorf("messageID(%q) is not stable", tt.id)
		}
	}
}
