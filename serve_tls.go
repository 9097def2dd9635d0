package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certificate holds serve's TLS certificate, replaced in place on SIGHUP so a renewed one (Let's
// Encrypt every 60-90 days) is taken without dropping a connection.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	c.current.Store(&pair)
	return nil
}

func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// reloadOnHangup reloads cert (nil: nothing to reload) on every SIGHUP until ctx ends. SIGHUP is
// caught even without TLS, since its default action would stop the server (`systemctl reload`).
func reloadOnHangup(ctx context.Context, cert *certificate, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if cert == nil {
				log.Info("SIGHUP: nothing to reload (TLS_CERT_FILE is unset)")
				continue
			}
			if err := cert.reload(); err != nil {
				log.Error("SIGHUP: the TLS certificate could not be reloaded; still serving the previous one", "err", err)
				continue
			}
			log.Info("SIGHUP: TLS certificate reloaded", "cert", cert.certFile)
		}
	}()
}
