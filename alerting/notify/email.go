package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net"
	netmail "net/mail"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/micro/platform"
	mail "github.com/wneessen/go-mail"
)

// emailSender delivers over SMTP with go-mail.
//
// Channel config: host, from, to (comma-separated addresses) are required; port
// (default 587, or 465 with tls=tls), username (then the secret is the password, sent
// with PLAIN or LOGIN) and tls: "starttls" (default, required), "tls" (implicit TLS)
// or "none" (only with Options.AllowPrivate, to a loopback or private-address host such
// as a local relay). Unless Options.AllowPrivate, host must not be a private address or
// localhost, and the connection is refused when the name resolves to one.
type emailSender struct{ opts Options }

var _ Sender = (*emailSender)(nil)

// TLS modes of an email channel.
const (
	tlsStartTLS = "starttls"
	tlsImplicit = "tls"
	tlsNone     = "none"
)

type emailConfig struct {
	host     string
	port     int
	from     *netmail.Address
	to       []string
	username string
	password string
	tls      string
}

func parseEmail(config map[string]string, secret string, allowPrivate bool) (emailConfig, []string) {
	problems := checkKeys(config, []string{"host", "from", "to"}, []string{"port", "username", "tls"})
	c := emailConfig{
		host:     strings.TrimSpace(config["host"]),
		username: config["username"],
		password: secret,
		tls:      strings.ToLower(strings.TrimSpace(config["tls"])),
	}
	if c.host != "" && !validHost(c.host) {
		problems = append(problems, fmt.Sprintf("host: %q is not a host name or IP address (give the port in port)", oneLine(c.host, 80)))
	} else if c.host != "" && !allowPrivate && privateHost(c.host) {
		problems = append(problems, hostProblem("host", c.host))
	}
	switch c.tls {
	case "":
		c.tls = tlsStartTLS
	case tlsStartTLS, tlsImplicit:
	case tlsNone:
		if c.host != "" && (!allowPrivate || !privateHost(c.host)) {
			problems = append(problems, `tls: "none" would send mail and password in clear: only allowed to a loopback or private-address host, where the platform allows private networks`)
		}
	default:
		problems = append(problems, fmt.Sprintf("tls: %q is not one of starttls, tls, none", oneLine(c.tls, 20)))
	}
	c.port = 587
	if c.tls == tlsImplicit {
		c.port = 465
	}
	if p := strings.TrimSpace(config["port"]); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			problems = append(problems, fmt.Sprintf("port: %q is not a port number", oneLine(p, 20)))
		}
		c.port = n
	}
	if f := strings.TrimSpace(config["from"]); f != "" {
		a, ok := parseEmailAddress(f)
		if !ok {
			problems = append(problems, fmt.Sprintf("from: %q is not an email address", oneLine(f, 100)))
		}
		c.from = a
	}
	for _, t := range splitList(config["to"]) {
		a, ok := parseEmailAddress(t)
		if !ok {
			problems = append(problems, fmt.Sprintf("to: %q is not an email address", oneLine(t, 100)))
			continue
		}
		c.to = append(c.to, a.String())
	}
	if _, ok := config["to"]; ok && strings.TrimSpace(config["to"]) != "" && len(splitList(config["to"])) == 0 {
		problems = append(problems, "to: no address")
	}
	switch {
	case c.username != "" && secret == "":
		problems = append(problems, "username is set but the password (the secret) is empty")
	case c.username == "" && secret != "":
		problems = append(problems, "a password (the secret) is given but no username")
	}
	return c, problems
}

// Send delivers m to the channel's recipients in one SMTP transaction.
func (s *emailSender) Send(ctx context.Context, ch Channel, m Message) error {
	c, problems := parseEmail(ch.Config, ch.Secret, s.opts.AllowPrivate)
	if err := configError(platform.ChannelEmail, problems); err != nil {
		return Permanently(err)
	}
	return redact(s.send(ctx, c, m), ch.Secret)
}

func (s *emailSender) send(ctx context.Context, c emailConfig, m Message) error {
	msg, err := s.message(c, m)
	if err != nil {
		return Permanently(fmt.Errorf("email: %w", err))
	}
	timeout := s.opts.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 || ctx.Err() != nil {
		return fmt.Errorf("email: %w", context.Cause(ctx))
	}

	// The dialer is ours: it dials host:port (an IPv6 literal too) through the egress
	// guard unless private addresses are allowed, does implicit TLS itself and closes
	// the connection when ctx ends, which go-mail alone does only while dialing.
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	tlsConf := s.tlsConfig(c.host)
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	dialTCP := (&net.Dialer{Timeout: s.opts.DialTimeout}).DialContext
	if !s.opts.AllowPrivate {
		dialTCP = guardedDial(&net.Dialer{Timeout: s.opts.DialTimeout})
	}
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		conn, err := dialTCP(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if c.tls == tlsImplicit {
			tc := tls.Client(conn, tlsConf)
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		stops = append(stops, context.AfterFunc(ctx, func() { conn.Close() }))
		return conn, nil
	}

	opts := []mail.Option{
		mail.WithPort(c.port),
		mail.WithTimeout(timeout),
		mail.WithDialContextFunc(dial),
		mail.WithTLSConfig(tlsConf),
	}
	switch c.tls {
	case tlsStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case tlsImplicit:
		// The connection is TLS already; go-mail sees it and asks for no STARTTLS.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case tlsNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if c.username != "" {
		mechs := []mail.SMTPAuthType{mail.SMTPAuthPlain, mail.SMTPAuthLogin}
		if c.tls == tlsNone { // loopback or private, allowed, checked by parseEmail
			mechs = []mail.SMTPAuthType{mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mechs...),
			mail.WithUsername(c.username), mail.WithPassword(c.password))
	}
	client, err := mail.NewClient(c.host, opts...)
	if err != nil {
		return Permanently(fmt.Errorf("email: %w", err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil {
		return nil
	}
	switch dl, ok := ctx.Deadline(); {
	case ctx.Err() != nil:
		err = fmt.Errorf("%w: %v", context.Cause(ctx), err)
	case ok && !time.Now().Before(dl):
		// The connection's deadline, which is the context's, came a moment first.
		err = fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	err = fmt.Errorf("email via %s: %w", addr, err)
	if smtpPermanent(err) {
		return Permanently(err)
	}
	return err
}

// smtpPermanent reports whether the server refused with a 5xx reply (a recipient, the
// data, the credentials): the same mail to the same server would be refused again. A
// 4xx, a broken connection or a timeout is worth retrying.
func smtpPermanent(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode() >= 500 && se.ErrorCode() < 600 && !se.IsTemp()
	}
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}

func (s *emailSender) tlsConfig(host string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.opts.TLSConfig != nil {
		c = s.opts.TLSConfig.Clone()
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	}
	c.ServerName = host
	return c
}

// message builds the mail: a subject stable per alert, a Message-ID derived from the
// notification's ID (a resent notification carries the same one, and receivers that
// keep ids drop the copy) and In-Reply-To/References to an id derived from the alert's
// Key, so mail clients thread firing, repeats and resolved together.
func (s *emailSender) message(c emailConfig, m Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	msg.FromMailAddress(c.from)
	if err := msg.To(c.to...); err != nil {
		return nil, err
	}
	msg.Subject(subject(m))
	msg.SetDateWithValue(s.opts.Clock.Now())
	domain := c.from.Address[strings.LastIndexByte(c.from.Address, '@')+1:]
	if m.ID != "" {
		msg.SetMessageIDWithValue(messageID("notify", m.ID, domain))
	} else {
		msg.SetMessageID()
	}
	if m.Key != "" {
		thread := "<" + messageID("alert", m.Key, domain) + ">"
		msg.SetGenHeaderPreformatted(mail.HeaderInReplyTo, thread)
		msg.SetGenHeaderPreformatted(mail.HeaderReferences, thread)
	}
	// RFC 3834: no vacation replies to an alert.
	msg.SetGenHeaderPreformatted("Auto-Submitted", "auto-generated")
	msg.SetGenHeaderPreformatted(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(mail.TypeTextPlain, emailText(m))
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, emailView(m)); err != nil {
		return nil, err
	}
	msg.AddAlternativeString(mail.TypeTextHTML, html.String())
	return msg, nil
}

// idSafe is what a Message-ID's left part may hold as is.
var idSafe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_-]|\.[A-Za-z0-9_-]){0,100}$`)

// messageID is "<prefix>.<id>@<domain>", id as given when it is safe in a Message-ID,
// else its hash: the same input always gives the same id.
func messageID(prefix, id, domain string) string {
	if !idSafe.MatchString(id) {
		sum := sha256.Sum256([]byte(id))
		id = hex.EncodeToString(sum[:16])
	}
	return prefix + "." + id + "@" + domain
}

// emailText is the plain-text body: what, where, since when, why, and the link.
func emailText(m Message) string {
	v := emailView(m)
	var b strings.Builder
	b.WriteString(v.Subject + "\n\n")
	if v.Summary != "" {
		b.WriteString(v.Summary + "\n\n")
	}
	for _, f := range v.Fields {
		fmt.Fprintf(&b, "%-10s %s\n", f.Name+":", f.Value)
	}
	if v.Reason != "" {
		b.WriteString("\n" + v.Reason + "\n")
	}
	if v.URL != "" {
		b.WriteString("\nDashboard: " + v.URL + "\n")
	}
	return b.String()
}

type field struct{ Name, Value string }

type emailViewData struct {
	Subject, Summary, Reason, URL string
	Fields                        []field
}

func emailView(m Message) emailViewData {
	v := emailViewData{
		Subject: subject(m),
		Summary: oneLine(m.Summary, 500),
		Reason:  strings.TrimSpace(truncate(m.Reason, 4000)),
		URL:     oneLine(m.URL, 2000),
	}
	v.Fields = append(v.Fields, field{"Alert", oneLine(m.Rule, 200)}, field{"Severity", severity(m)})
	if w := where(m); w != "" {
		v.Fields = append(v.Fields, field{"Where", w})
	}
	if s := since(m); s != "" {
		v.Fields = append(v.Fields, field{"When", s})
	}
	if v.Fields[0].Value == "" {
		v.Fields = v.Fields[1:]
	}
	return v
}

// emailHTML is the HTML alternative; html/template escapes every value, and a URL
// that is not http(s) is replaced with "#ZgotmplZ".
var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>{{.Subject}}</h2>
{{if .Summary}}<p>{{.Summary}}</p>{{end}}
<table>{{range .Fields}}
<tr><th align="left" style="padding-right: 1em">{{.Name}}</th><td>{{.Value}}</td></tr>{{end}}
</table>
{{if .Reason}}<pre style="white-space: pre-wrap">{{.Reason}}</pre>{{end}}
{{if .URL}}<p><a href="{{.URL}}">Open in the dashboard</a></p>{{end}}
</body></html>
`))
