package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/infradash/infradash/sample"
)

// IngestPath is where the hub takes batches.
const IngestPath = "/api/v1/ingest"

// requestTimeout bounds one request: longer than the hub's own write timeout, so the hub's
// answer (stored, or 503) comes back rather than the agent giving up while the hub commits.
const requestTimeout = 30 * time.Second

// HTTPSender posts batches to a hub, gzip-compressed, with the host's agent token.
type HTTPSender struct {
	ingest string // the hub's ingest URL
	token  string
	client *http.Client
}

// CheckHubURL says what is wrong with a hub URL, or nil: https://, or http:// to this machine
// only (a token sent in clear over a network is a token given away).
func CheckHubURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not a hub URL like https://infradash.example.com", raw)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%q: plain http:// is refused except to this machine (127.0.0.1, ::1, localhost); use https://", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: a hub URL has no query or fragment", raw)
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewHTTPSender returns a sender to hubURL (see CheckHubURL) with token. caFile, when set, is a
// PEM file of the private CA the hub's certificate is signed by; the system's roots are trusted
// too.
func NewHTTPSender(hubURL, token, caFile string) (*HTTPSender, error) {
	u, err := CheckHubURL(hubURL)
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("AGENT_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AGENT_CA_FILE %s holds no PEM certificate", caFile)
		}
		tlsConf.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConf
	transport.Proxy = http.ProxyFromEnvironment
	transport.MaxIdleConnsPerHost = 2
	return &HTTPSender{
		ingest: u.JoinPath(IngestPath).String(),
		token:  token,
		client: &http.Client{Timeout: requestTimeout, Transport: transport},
	}, nil
}

// envelope is the hub's JSON answer.
type envelope struct {
	Status string `json:"status"`
	Data   struct {
		Host               string      `json:"host"`
		Accepted           int         `json:"accepted"`
		Duplicates         int         `json:"duplicates"`
		Rejected           []Rejection `json:"rejected"`
		ClockOffsetSeconds float64     `json:"clock_offset_seconds"`
	} `json:"data"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Send posts one batch and returns the hub's acknowledgement, or a *HubError, or the error that
// kept the request from being answered (unreachable, TLS).
func (s *HTTPSender) Send(ctx context.Context, o Outgoing) (Ack, error) {
	return s.post(ctx, s.ingest, o)
}

// Check sends a batch the hub checks and does not store (?dry_run=true), to test the agent's
// configuration.
func (s *HTTPSender) Check(ctx context.Context, o Outgoing) (Ack, error) {
	return s.post(ctx, s.ingest+"?dry_run=true", o)
}

func (s *HTTPSender) post(ctx context.Context, url string, o Outgoing) (Ack, error) {
	body, err := Encode(o)
	if err != nil {
		return Ack{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Ack{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("User-Agent", "infradash-agent/"+o.Agent.Version)
	res, err := s.client.Do(req)
	if err != nil {
		return Ack{}, describe(err)
	}
	defer res.Body.Close()
	var env envelope
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	_ = json.Unmarshal(data, &env)
	if res.StatusCode/100 != 2 {
		he := &HubError{Status: res.StatusCode, Code: env.Error.Code, Message: env.Error.Message}
		if he.Message == "" {
			he.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
			he.RetryAfter = time.Duration(secs) * time.Second
		}
		return Ack{}, he
	}
	if env.Status != "success" {
		return Ack{}, fmt.Errorf("the hub at %s answered %d without a success envelope; is HUB_URL an infradash hub?", s.ingest, res.StatusCode)
	}
	return Ack{Host: env.Data.Host, Accepted: env.Data.Accepted, Duplicates: env.Data.Duplicates, Rejected: env.Data.Rejected,
		ClockOffset: time.Duration(env.Data.ClockOffsetSeconds * float64(time.Second))}, nil
}

// describe turns transport errors into what an operator can act on.
func describe(err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("TLS: the hub's certificate is signed by an authority this host does not trust; set AGENT_CA_FILE to its CA certificate (%w)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS: the hub's certificate is not valid for this address; use the name the certificate was issued for in HUB_URL (%w)", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("TLS: the hub's certificate is not valid (%w)", err)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("unreachable: the hub's name does not resolve (%w)", err)
	case errors.As(err, &opErr):
		return fmt.Errorf("unreachable: %w", err)
	}
	return err
}

// Encode writes a batch as the hub takes it (sample.Batch, version 1), gzip-compressed. The
// spooled samples are JSON already and are spliced in as they are.
func Encode(o Outgoing) ([]byte, error) {
	var e Encoder
	return e.Encode(o)
}

// Encoder is Encode for a sender of many batches (cmd/fleetsim sends thousands a second): it
// keeps its buffers and its compressor from one batch to the next. Not safe for concurrent use.
type Encoder struct {
	raw, out bytes.Buffer
	zw       *gzip.Writer
}

// Encode is what the package's Encode returns; the bytes are valid until the next call.
func (e *Encoder) Encode(o Outgoing) ([]byte, error) {
	head := struct {
		Version  int              `json:"version"`
		Agent    sample.Agent     `json:"agent"`
		SentAt   time.Time        `json:"sent_at"`
		Platform *sample.Platform `json:"platform,omitempty"`
	}{sample.WireVersion, o.Agent, o.SentAt.UTC(), o.Platform}
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	e.raw.Reset()
	e.raw.Write(hb[:len(hb)-1]) // without its closing brace
	e.raw.WriteString(`,"samples":[`)
	for i, r := range o.Records {
		if i > 0 {
			e.raw.WriteByte(',')
		}
		e.raw.Write(r)
	}
	e.raw.WriteString("]}")
	e.out.Reset()
	if e.zw == nil {
		e.zw, _ = gzip.NewWriterLevel(&e.out, gzip.BestSpeed)
	} else {
		e.zw.Reset(&e.out)
	}
	if _, err := e.zw.Write(e.raw.Bytes()); err != nil {
		return nil, err
	}
	if err := e.zw.Close(); err != nil {
		return nil, err
	}
	return e.out.Bytes(), nil
}
