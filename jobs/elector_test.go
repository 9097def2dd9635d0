package jobs_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
)

// freezingProxy forwards TCP to the database until freeze is called; from then on it swallows
// every byte both ways but keeps the connections open, like a network path that died without a
// reset (a half-open connection).
type freezingProxy struct {
	ln              net.Listener
	network, target string
	frozen          atomic.Bool
	mu              sync.Mutex
	conns           []net.Conn
}

func newFreezingProxy(t *testing.T, network, target string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, network: network, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *freezingProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial(p.network, p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

func (p *freezingProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func TestIsLeaderGivesUpOnAHalfOpenConnection(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	// The test server listens on a Unix socket (a directory as the host) or on TCP.
	network, target := "tcp", net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		network, target = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	}
	proxy := newFreezingProxy(t, network, target)
	host, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	el := jobs.NewElector(pool, nil)
	if err := el.IsLeader(context.Background()); err != nil {
		t.Fatalf("the only replica should lead: %v", err)
	}

	proxy.frozen.Store(true)
	// gocron asks with a context that has no deadline; the elector must still answer, or every
	// job of this replica waits behind it.
	done := make(chan error, 1)
	go func() { done <- el.IsLeader(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("IsLeader said this replica still leads over a dead connection")
		}
	case <-time.After(time.Minute):
		t.Fatal("IsLeader blocked on a half-open connection instead of giving up")
	}
}
