package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// healthcheck probes the port serve listens on when HTTP_ADDR is only in .env, as serve reads
// it, and a bad unrelated setting beside it does not fail the probe.
func TestHealthcheckReadsHTTPAddrFromDotEnv(t *testing.T) {
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	hc := binary(t, bin, []string{"ENVIRONMENT=production"}, "healthcheck")
	dotenv := "HTTP_ADDR=" + ln.Addr().String() + "\nSLACK_WEBHOOK_URL=not a url\nHEALTH_CPU_WARNING=lots\n"
	if err := os.WriteFile(filepath.Join(hc.Dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck with HTTP_ADDR in .env: %v\n%s", err, out)
	}
}
