package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/infradash/infradash/config"
)

var healthcheckCommand = command{
	summary: "Exit 0 when the server answers its health endpoint with 200, 1 otherwise; for container HEALTHCHECKs, which have no curl.",
	run: func(ctx context.Context, env *environment, args []string) error {
		fs := flags(env, "healthcheck")
		// The address comes from where serve reads it (the environment, then .env), but only
		// the address: a probe must not fail because, say, a webhook URL is wrong while the
		// server runs fine.
		lookup, err := lookupWithDotenv(env)
		if err != nil {
			return exitError{code: 1, err: err}
		}
		cfg, _ := config.Load(lookup)
		base := config.URLFromAddr(cfg.HTTPAddr)
		if cfg.TLSCertFile != "" {
			base = "https://" + strings.TrimPrefix(base, "http://")
		}
		url := fs.String("url", base+"/healthz", "URL to probe (the default is built from HTTP_ADDR and TLS_CERT_FILE, from the environment or .env)")
		if err := parse(env, fs, args); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
		if err != nil {
			return exitError{code: 1, err: err}
		}
		// The probe asks this machine's own listener, by address: the certificate names the
		// public host, not 127.0.0.1, and proving who answers is not what a liveness probe is for.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		res, err := client.Do(req)
		if err != nil {
			return exitError{code: 1, err: err}
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return exitError{code: 1, err: fmt.Errorf("%s answered %s", *url, res.Status)}
		}
		fmt.Fprintf(env.stdout, "%s: %s\n", *url, res.Status)
		return nil
	},
}
