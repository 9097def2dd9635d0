package handlers

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
)

type ingestFixture struct {
	a     *testApp
	token string
}

func newIngestFixture(t *testing.T) *ingestFixture {
	t.Helper()
	a := newTestApp(t, nil)
	_, token, err := fleet.NewRegistry(a.pool, nil).Add(context.Background(), "web-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &ingestFixture{a: a, token: token}
}

// realSample is a sample of this machine, as an agent takes it.
func realSample(t *testing.T) []byte {
	t.Helper()
	col := collector.New(collector.Options{Version: "test"})
	b, err := json.Marshal(col.Collect(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *ingestFixture) post(t *testing.T, token, query string, body []byte, gzipped bool) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, PathIngest+query, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

// stored counts web-1's rows.
func (f *ingestFixture) stored(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.a.pool.QueryRow(context.Background(), `SELECT count(*) FROM system_metrics_history WHERE host = 'web-1'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// validateRequestAgainstOpenAPI checks that a request body is what openapi.yaml says the route
// takes: the agent's batches must match the published wire format.
func validateRequestAgainstOpenAPI(t *testing.T, req *http.Request, body []byte) {
	t.Helper()
	router, err := openAPIRouter(req.Host)
	if err != nil {
		t.Fatal(err)
	}
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host = "http", req.Host
	r.Header.Del("Content-Encoding")
	r.Body = http.NoBody
	r.Body = readCloser{bytes.NewReader(body)}
	route, params, err := router.FindRoute(r)
	if err != nil {
		t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Errorf("the agent's batch is not what openapi.yaml describes:\n%v", err)
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestIngestStoresAnAgentsBatchAndAnswersAsDocumented(t *testing.T) {
	f := newIngestFixture(t)
	rec := realSample(t)
	platform := collector.New(collector.Options{Version: "test"}).Platform()
	out := agent.Outgoing{Records: [][]byte{rec}, Platform: &platform, Agent: sample.Agent{Version: "1.2.3"}, SentAt: time.Now()}
	body, err := agent.Encode(out)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := gzipDecode(body)
	validateRequestAgainstOpenAPI(t, f.post(t, f.token, "", raw, false), raw)

	res := serveDocumented(t, f.a.e, f.post(t, f.token, "?dry_run=true", body, true), http.StatusOK, "")
	if !strings.Contains(res.Body.String(), `"dry_run":true`) || f.stored(t) != 0 {
		t.Errorf("dry run: %s, %d rows stored; want a dry run that stores nothing", res.Body, f.stored(t))
	}
	res = serveDocumented(t, f.a.e, f.post(t, f.token, "", body, true), http.StatusOK, "")
	var ans struct {
		Data ingestAnswer `json:"data"`
	}
	if err := json.Unmarshal(res.Body.Bytes(), &ans); err != nil || ans.Data.Host != "web-1" || ans.Data.Accepted != 1 {
		t.Errorf("ingest answered %s", res.Body)
	}
	// Sent again (the agent never got the answer): stored once.
	res = serveDocumented(t, f.a.e, f.post(t, f.token, "", body, true), http.StatusOK, "")
	if err := json.Unmarshal(res.Body.Bytes(), &ans); err != nil || ans.Data.Duplicates != 1 || f.stored(t) != 1 {
		t.Errorf("a re-sent batch: %s, %d rows", res.Body, f.stored(t))
	}
}

func gzipDecode(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = out.ReadFrom(zr)
	return out.Bytes(), err
}

func TestIngestRefusesWhatItCannotTakeNamingWhy(t *testing.T) {
	f := newIngestFixture(t)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	one := `{"version":1,"samples":[{"collected_at":"` + now + `","system":{}}]}`
	many := `{"version":1,"samples":[` + strings.Repeat(`{"collected_at":"`+now+`"},`, sample.MaxBatchSamples) + `{"collected_at":"` + now + `"}]}`
	// A gzip bomb: just over the 32 MiB a body may decompress to, in a few kilobytes.
	bomb := gz(append([]byte(`{"version":1,"samples":[{"collected_at":"`+now+`","x":"`), bytes.Repeat([]byte("0"), sample.MaxDecodedBytes+1)...))
	user := authtest.Token(t, f.a.pool, auth.RoleAdmin)
	cases := []struct {
		name          string
		token, body   string
		gzipped       bool
		status        int
		code, message string
	}{
		{"no token", "", one, false, 401, "unauthorized", ""},
		{"a user's token", user, one, false, 403, "agent_token_required", "user tokens may not"},
		{"an unknown agent token", fleet.NewToken(), one, false, 401, "agent_token_refused", "removed or its token rotated"},
		{"a newer wire format", f.token, `{"version":2,"samples":[]}`, false, 400, "unsupported_version", "this hub speaks version 1"},
		{"no version", f.token, `{"samples":[]}`, false, 400, "invalid_batch", "version: is required"},
		{"not JSON", f.token, `{"version":1,"samples":[`, false, 400, "invalid_batch", "body"},
		{"a wrong type", f.token, `{"version":1,"samples":[{"collected_at":"` + now + `","system":{"cpu":{"total_percent":"high"}}}]}`, false, 400, "invalid_batch", "total_percent"},
		{"no samples", f.token, `{"version":1,"samples":[]}`, false, 400, "invalid_batch", "samples: is empty"},
		{"not gzip", f.token, one, true, 400, "invalid_batch", "not gzip"},
		{"too many samples", f.token, many, false, 413, "batch_too_large", "at most 500"},
		{"a gzip bomb", f.token, string(bomb), true, 413, "batch_too_large", "decompressed"},
		{"a body over 4 MiB", f.token, `{"version":1,"x":"` + strings.Repeat("x", sample.MaxBodyBytes) + `"}`, false, 413, "batch_too_large", "4 MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serveDocumented(t, f.a.e, f.post(t, c.token, "", []byte(c.body), c.gzipped), c.status, c.code)
			if !strings.Contains(rec.Body.String(), c.message) {
				t.Errorf("%d %s: the message does not say %q", rec.Code, rec.Body, c.message)
			}
		})
	}
	if n := f.stored(t); n != 0 {
		t.Errorf("%d rows stored from refused requests", n)
	}
}

// Ingest checks its untrusted text itself (the edge check skips its gzip body): NUL bytes and
// invalid UTF-8 anywhere in a sample reject that sample, naming the field, never a 5xx.
func TestIngestRefusesMalformedText(t *testing.T) {
	f := newIngestFixture(t)
	at := time.Now().UTC().Add(-time.Minute)
	for i, c := range []struct{ field, json string }{
		{"samples[0].system.filesystems[0].mountpoint", `"system":{"filesystems":[{"mountpoint":"/a\u0000b"}]}`},
		{"samples[0].top_processes.by_cpu[0].name", `"top_processes":{"by_cpu":[{"name":"x\u0000"}]}`},
		{"samples[0].system.network.interfaces[0].name", `"system":{"network":{"interfaces":[{"name":"eth\u00000"}]}}`},
	} {
		body := fmt.Sprintf(`{"version":1,"samples":[{"collected_at":%q,%s}]}`, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), c.json)
		rec := serveDocumented(t, f.a.e, f.post(t, f.token, "", gz([]byte(body)), true), http.StatusOK, "")
		if !strings.Contains(rec.Body.String(), `"field":"`+c.field+`"`) || !strings.Contains(rec.Body.String(), "NUL") {
			t.Errorf("%s: %s; want the sample rejected naming the field", c.field, rec.Body)
		}
	}
	body := fmt.Sprintf(`{"version":1,"agent":{"version":"1\u0000"},"samples":[{"collected_at":%q}]}`, at.Format(time.RFC3339Nano))
	serveDocumented(t, f.a.e, f.post(t, f.token, "", []byte(body), false), http.StatusBadRequest, "invalid_batch")
	// Invalid UTF-8 becomes U+FFFD in Go's decoder: stored as such, no error, no 5xx.
	body = fmt.Sprintf("{\"version\":1,\"samples\":[{\"collected_at\":%q,\"system\":{\"filesystems\":[{\"mountpoint\":\"/\xff\xfe\"}]}}]}", at.Add(time.Hour/2).Format(time.RFC3339Nano))
	if rec := serveDocumented(t, f.a.e, f.post(t, f.token, "", []byte(body), false), http.StatusOK, ""); rec.Code >= 500 {
		t.Errorf("invalid UTF-8: %d", rec.Code)
	}
}

// A database that answers but refuses writes (default_transaction_read_only, as a standby or an
// operator's ALTER DATABASE makes it) is an outage to agents: 503 with Retry-After, nothing
// acknowledged, no sample rejected for it, and /readyz says why; once it takes writes again the
// same batch is stored.
func TestIngestAnswers503WhileTheDatabaseRefusesWrites(t *testing.T) {
	f := newIngestFixture(t)
	ts, log := f.a.serveHTTP(t)
	ctx := context.Background()
	var db string
	if err := f.a.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	readOnly := func(on bool) {
		t.Helper()
		stmt := `ALTER DATABASE "` + db + `" SET default_transaction_read_only = on`
		if !on {
			stmt = `ALTER DATABASE "` + db + `" RESET default_transaction_read_only`
		}
		// READ WRITE explicitly: once the setting is on, a plain transaction could not turn it off.
		if err := pgx.BeginTxFunc(ctx, f.a.pool, pgx.TxOptions{AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, stmt)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		f.a.pool.Reset() // new connections take the database's setting
	}
	body := gz([]byte(fmt.Sprintf(`{"version":1,"sent_at":%q,"samples":[{"collected_at":%q,"system":{}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano))))
	post := func() (*http.Response, answer) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+PathIngest, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Encoding", "gzip")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var a answer
		_ = json.NewDecoder(res.Body).Decode(&a)
		return res, a
	}
	readyz := func() map[string]string {
		t.Helper()
		res, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct{ Checks map[string]string }
		_ = json.NewDecoder(res.Body).Decode(&r)
		return r.Checks
	}

	readOnly(true)
	t.Cleanup(func() { readOnly(false) })
	res, a := post()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || a.Error.Code != "database_unavailable" ||
		!strings.Contains(a.Error.Message, "read-only") {
		t.Errorf("ingest into a read-only database: %d Retry-After %q %+v; want 503 database_unavailable with Retry-After, naming read-only",
			res.StatusCode, res.Header.Get("Retry-After"), a.Error)
	}
	if n := f.stored(t); n != 0 {
		t.Errorf("%d samples stored in a read-only database", n)
	}
	if w := readyz()["writes"]; !strings.Contains(w, "read-only") {
		t.Errorf("/readyz writes = %q, want it to say the database is read-only", w)
	}

	readOnly(false)
	if res, a := post(); res.StatusCode != http.StatusOK {
		t.Fatalf("ingest once the database takes writes again: %d %+v", res.StatusCode, a.Error)
	}
	if n := f.stored(t); n != 1 {
		t.Errorf("%d samples stored after the database took writes again, want 1", n)
	}
	if w := readyz()["writes"]; w != "ok" {
		t.Errorf("/readyz writes = %q once a write was stored, want ok", w)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("a read-only database was logged as an error (it is an outage, logged as a warning):\n%s", log)
	}
}
