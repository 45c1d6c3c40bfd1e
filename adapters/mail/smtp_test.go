package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/authd/authd/adapters/mail"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// server is an in-process SMTP server that keeps what it receives.
type server struct {
	mu       sync.Mutex
	from     string
	rcpts    []string
	data     []byte
	tls      bool
	authUser string
	// user and pass, when set, are the only credentials accepted, and
	// MAIL is refused without them.
	user, pass string
	// rcptErr, when set, answers RCPT TO.
	rcptErr error
}

func (s *server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: s, tls: isTLS}, nil
}

type session struct {
	s      *server
	tls    bool
	authed string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if x.s.user == "" || user != x.s.user || pass != x.s.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		x.authed = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && x.authed == "" {
		return smtp.ErrAuthRequired
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.from = from
	x.s.tls = x.tls
	x.s.authUser = x.authed
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.s.rcptErr != nil {
		return x.s.rcptErr
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.rcpts = append(x.s.rcpts, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.data = b
	return err
}

func (x *session) Reset()        {}
func (x *session) Logout() error { return nil }

// start serves s on 127.0.0.1:0; with cert, STARTTLS is offered (or, when
// implicit, TLS from the first byte).
func start(t *testing.T, s *server, cert *tls.Certificate, implicit bool) (host string, port int) {
	t.Helper()
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	srv.ErrorLog = discardLogger{}
	var l net.Listener
	var err error
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	a := l.Addr().(*net.TCPAddr)
	return "127.0.0.1", a.Port
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func newSMTP(t *testing.T, cfg mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	r, err := mail.NewRenderer("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	m, err := mail.NewSMTP(cfg, "authd <no-reply@example.com>", r)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func verifyMail() ports.Mail {
	return ports.Mail{To: "ann@example.com", Template: ports.TemplateVerifyEmail, Data: sampleData()}
}

// checkMessage parses raw and checks the headers, the subject and both
// alternatives with the link.
func checkMessage(t *testing.T, raw []byte) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, raw)
	}
	if got := msg.Header.Get("To"); !strings.Contains(got, "ann@example.com") {
		t.Errorf("To = %q", got)
	}
	if got := msg.Header.Get("From"); !strings.Contains(got, "no-reply@example.com") {
		t.Errorf("From = %q", got)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Confirm your email address" {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if msg.Header.Get("Message-Id") == "" {
		t.Errorf("no Message-ID")
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		if !strings.Contains(string(body), sampleData()["link"]) {
			t.Errorf("%s part lacks the link: %s", ct, body)
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", types)
	}
}

func TestSMTPPlainDelivery(t *testing.T) {
	s := &server{}
	host, port := start(t, s, nil, false)
	m := newSMTP(t, mail.SMTPConfig{Host: host, Port: port, Security: mail.NoTLS})
	if err := m.Send(context.Background(), verifyMail()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.from != "no-reply@example.com" || strings.Join(s.rcpts, ",") != "ann@example.com" {
		t.Errorf("envelope from %q rcpts %v", s.from, s.rcpts)
	}
	checkMessage(t, s.data)
}

func TestSMTPStartTLSDelivery(t *testing.T) {
	cert, pool := selfSigned(t)
	s := &server{}
	host, port := start(t, s, &cert, false)
	m := newSMTP(t, mail.SMTPConfig{Host: host, Port: port, Security: mail.STARTTLS,
		TLSConfig: &tls.Config{RootCAs: pool}})
	if err := m.Send(context.Background(), verifyMail()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	if !s.tls {
		t.Error("message was not sent over TLS")
	}
	checkMessage(t, s.data)
	s.mu.Unlock()

	// Without trusting the certificate, the client refuses it and the
	// failure is worth retrying (a configuration fault).
	m = newSMTP(t, mail.SMTPConfig{Host: host, Port: port, Security: mail.STARTTLS})
	if err := m.Send(context.Background(), verifyMail()); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("untrusted certificate: err %v, want EUNAVAILABLE", err)
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	s := &server{}
	host, port := start(t, s, nil, false) // offers no STARTTLS
	m := newSMTP(t, mail.SMTPConfig{Host: host, Port: port, Security: mail.STARTTLS})
	if err := m.Send(context.Background(), verifyMail()); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("err %v, want EUNAVAILABLE", err)
	}
	if s.data != nil {
		t.Error("message sent in clear although STARTTLS is required")
	}
}

func TestSMTPImplicitTLSDelivery(t *testing.T) {
	cert, pool := selfSigned(t)
	s := &server{}
	host, port := start(t, s, &cert, true)
	m := newSMTP(t, mail.SMTPConfig{Host: host, Port: port, Security: mail.ImplicitTLS,
		TLSConfig: &tls.Config{RootCAs: pool}})
	if err := m.Send(context.Background(), verifyMail()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tls {
		t.Error("not over TLS")
	}
	checkMessage(t, s.data)
}

func TestSMTPAuthPlain(t *testing.T) {
	cert, pool := selfSigned(t)
	for _, tc := range []struct {
		name string
		sec  mail.Security
	}{{"plain connection to loopback", mail.NoTLS}, {"starttls", mail.STARTTLS}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{user: "mailer", pass: "s3cret-pa55"}
			host, port := start(t, s, &cert, false)
			cfg := mail.SMTPConfig{Host: host, Port: port, Security: tc.sec,
				Username: "mailer", Password: "s3cret-pa55", TLSConfig: &tls.Config{RootCAs: pool}}
			if err := newSMTP(t, cfg).Send(context.Background(), verifyMail()); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			if s.authUser != "mailer" || s.data == nil {
				t.Errorf("auth user %q, data %d bytes", s.authUser, len(s.data))
			}
			s.mu.Unlock()

			cfg.Password = "wrong-pa55word"
			err := newSMTP(t, cfg).Send(context.Background(), verifyMail())
			if domain.ErrorCode(err) != domain.EUNAVAILABLE {
				t.Errorf("wrong password: err %v, want EUNAVAILABLE", err)
			}
			if err != nil && strings.Contains(err.Error(), "wrong-pa55word") {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}

func TestSMTPRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"451 temporary", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, domain.EUNAVAILABLE},
		{"550 no such user", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, domain.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{rcptErr: tc.err}
			host, port := start(t, s, nil, false)
			err := newSMTP(t, mail.SMTPConfig{Host: host, Port: port, Security: mail.NoTLS}).
				Send(context.Background(), verifyMail())
			if domain.ErrorCode(err) != tc.want {
				t.Fatalf("err %v, want %s", err, tc.want)
			}
		})
	}
}

func TestSMTPNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	err = newSMTP(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port, Security: mail.NoTLS}).
		Send(context.Background(), verifyMail())
	if domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("err %v, want EUNAVAILABLE", err)
	}
}

func TestSMTPSilentServerTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accept and say nothing
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	err = newSMTP(t, mail.SMTPConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		Security: mail.NoTLS, Timeout: 300 * time.Millisecond}).Send(context.Background(), verifyMail())
	if domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("err %v, want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestSMTPUnknownTemplateIsInvalid(t *testing.T) {
	// Nothing listens: rendering fails before any connection.
	err := newSMTP(t, mail.SMTPConfig{Host: "127.0.0.1", Port: 1, Security: mail.NoTLS}).
		Send(context.Background(), ports.Mail{To: "ann@example.com", Template: "nope"})
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("err %v, want EINVALID", err)
	}
}

func TestNewSMTPRefusesBadFrom(t *testing.T) {
	r, _ := mail.NewRenderer("")
	if _, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: 25}, "not an address", r); err == nil {
		t.Fatal("want an error")
	}
}

func TestParseSMTPURL(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want mail.SMTPConfig
	}{
		{"smtp://user:pass@mail.example.com:587", mail.SMTPConfig{Host: "mail.example.com", Port: 587, Security: mail.STARTTLS, Username: "user", Password: "pass"}},
		{"smtp://mail.example.com", mail.SMTPConfig{Host: "mail.example.com", Port: 587, Security: mail.STARTTLS}},
		{"smtp://mail.example.com?tls=starttls", mail.SMTPConfig{Host: "mail.example.com", Port: 587, Security: mail.STARTTLS}},
		{"smtps://mail.example.com", mail.SMTPConfig{Host: "mail.example.com", Port: 465, Security: mail.ImplicitTLS}},
		{"smtps://u%40x.com:p%3Aw%2Fd@mail.example.com:2465", mail.SMTPConfig{Host: "mail.example.com", Port: 2465, Security: mail.ImplicitTLS, Username: "u@x.com", Password: "p:w/d"}},
		{"smtp://127.0.0.1:1025?tls=none", mail.SMTPConfig{Host: "127.0.0.1", Port: 1025, Security: mail.NoTLS, Loopback: true}},
		{"smtp://localhost?tls=none", mail.SMTPConfig{Host: "localhost", Port: 25, Security: mail.NoTLS, Loopback: true}},
		{"smtp://[::1]:1025?tls=none", mail.SMTPConfig{Host: "::1", Port: 1025, Security: mail.NoTLS, Loopback: true}},
		{"smtp://mailpit:1025?tls=none", mail.SMTPConfig{Host: "mailpit", Port: 1025, Security: mail.NoTLS}},
		{"smtp://user@relay.example.com/", mail.SMTPConfig{Host: "relay.example.com", Port: 587, Security: mail.STARTTLS, Username: "user"}},
	} {
		got, err := mail.ParseSMTPURL(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.raw, got, tc.want)
		}
	}

	for _, raw := range []string{
		"",
		"mail.example.com:587",
		"http://mail.example.com",
		"smtp://",
		"smtp://:topsecret@mail.example.com",
		"smtp://u:topsecret@mail.example.com:0",
		"smtp://u:topsecret@mail.example.com:99999",
		"smtp://u:topsecret@mail.example.com:abc",
		"smtp://u:topsecret@mail.example.com:",
		"smtp://u:topsecret@mail.example.com?tls=maybe",
		"smtp://u:topsecret@mail.example.com?tls=none&tls=none",
		"smtp://u:topsecret@mail.example.com?timeout=5s",
		"smtps://u:topsecret@mail.example.com?tls=none",
		"smtp://u:topsecret@mail.example.com/path",
		"smtp://u:topsecret@mail example.com",
		"smtp://u:top%zzsecret@mail.example.com",
		"smtp:u:topsecret@mail.example.com",
	} {
		_, err := mail.ParseSMTPURL(raw)
		if err == nil {
			t.Errorf("%q: want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%q: error quotes the password: %v", raw, err)
		}
	}
}

func TestSMTPConfigStringHidesPassword(t *testing.T) {
	c, err := mail.ParseSMTPURL("smtp://user:topsecret@mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "topsecret") || s != "smtp://user@mail.example.com:587" {
		t.Errorf("String() = %q", s)
	}
}
