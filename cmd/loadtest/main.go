// Command loadtest sends N GET requests from C concurrent clients to one URL on this machine and
// prints throughput, latency percentiles and errors. It is what `make bench` measures the
// server with (scripts/bench.sh); it refuses any host but 127.0.0.1 so it can never load
// somebody else's server.
//
//	go run ./cmd/loadtest -url http://127.0.0.1:8080/api/v1/observability/infrastructure/health -n 20000 -c 10 -token TOKEN
//
// With -cookie it sends a browser's session cookie instead (the dashboard pages), with -htmx the
// HX-Request header of a poll, and with -gzip it accepts gzip; "bytes" is what came over the
// wire per response, compressed or not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "", "the URL to GET (host must be 127.0.0.1)")
	n := flag.Int("n", 1000, "requests in all (1 to 1,000,000)")
	c := flag.Int("c", 10, "concurrent clients (1 to 256)")
	token := flag.String("token", os.Getenv("LOADTEST_TOKEN"), "bearer token (default $LOADTEST_TOKEN)")
	limit := flag.Duration("max-time", 2*time.Minute, "stop after this long even if requests remain")
	var h request
	flag.StringVar(&h.cookie, "cookie", "", "Cookie header to send, e.g. session=…")
	flag.BoolVar(&h.htmx, "htmx", false, "send HX-Request: true, as htmx's polls do")
	flag.BoolVar(&h.gzip, "gzip", false, "send Accept-Encoding: gzip, as browsers do")
	flag.Parse()
	h.url, h.token = *target, *token
	if err := run(h, *n, *c, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// request is what every GET of a run sends.
type request struct {
	url, token, cookie string
	htmx, gzip         bool
}

func run(r request, n, c int, limit time.Duration) error {
	target := r.url
	u, err := url.Parse(target)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Errorf("-url %q is not an http URL", target)
	case u.Hostname() != "127.0.0.1":
		return fmt.Errorf("-url must point at 127.0.0.1, not %q", u.Hostname())
	case n < 1 || n > 1_000_000:
		return errors.New("-n must be 1 to 1,000,000")
	case c < 1 || c > 256:
		return errors.New("-c must be 1 to 256")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	client := &http.Client{
		Timeout: 10 * time.Second,
		// A redirect (to /login, when the cookie is not a session) must count as a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// No transparent decompression: the body read is what crossed the wire.
		Transport: &http.Transport{MaxIdleConnsPerHost: c, DisableCompression: true, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext},
	}

	var next atomic.Int64
	var errs, bytes atomic.Int64
	var firstErr atomic.Value
	latencies := make([][]time.Duration, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t0 := time.Now()
				size, err := get(ctx, client, r)
				bytes.Add(size)
				latencies[w] = append(latencies[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	fmt.Printf("url:        %s\n", target)
	fmt.Printf("requests:   %d in %.2fs from %d clients (%d errors)\n", len(all), elapsed.Seconds(), c, errs.Load())
	fmt.Printf("throughput: %.0f requests/s\n", float64(len(all))/elapsed.Seconds())
	fmt.Printf("latency:    p50 %s  p90 %s  p99 %s  max %s\n", ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)))
	if len(all) > 0 {
		enc := "identity"
		if r.gzip {
			enc = "gzip accepted"
		}
		fmt.Printf("bytes:      %d per response body as sent (%s)\n", bytes.Load()/int64(len(all)), enc)
	}
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first error: %s\n", e)
	}
	if len(all) < n {
		return fmt.Errorf("stopped after %s with %d of %d requests sent", limit, len(all), n)
	}
	if errs.Load() > 0 {
		return fmt.Errorf("%d requests failed", errs.Load())
	}
	return nil
}

// get sends one request and returns the size of the body as it came over the wire.
func get(ctx context.Context, client *http.Client, r request) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return 0, err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.cookie != "" {
		req.Header.Set("Cookie", r.cookie)
	}
	if r.htmx {
		req.Header.Set("HX-Request", "true")
	}
	if r.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
