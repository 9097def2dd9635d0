// Package devdb runs a private PostgreSQL server for development and tests, from the system's
// own PostgreSQL binaries, with its data and its Unix socket in one folder.
//
// Listening only on a socket inside the data folder means it never fights over port 5432 with a
// server the machine already runs, and nobody has to configure a database to try infradash.
package devdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Port names the socket file (.s.PGSQL.5432); no TCP port is opened.
const Port = 5432

// Options tune a private server.
type Options struct {
	// Fast turns off fsync: for throwaway test servers only, never for data someone keeps.
	Fast   bool
	Logger *slog.Logger
}

// Server is a running private PostgreSQL.
type Server struct {
	Dir    string
	bin    string
	cred   *syscall.Credential
	owned  bool
	logger *slog.Logger
}

// ErrNoBinaries means PostgreSQL's server programs are not installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; " +
	"install them with `sudo apt-get install postgresql` (or set DATABASE_URL to an existing server)")

// Start starts a server with its data in dir, creating the cluster on first use. A server already
// running in dir (left by an earlier run) is reused and left running by Stop.
func Start(ctx context.Context, dir string, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// The kernel limits a Unix socket path to 107 bytes.
	if n := len(filepath.Join(dir, ".s.PGSQL.5432")); n > 107 {
		return nil, fmt.Errorf("private database: socket path under %s is %d bytes, over the 107 a Unix socket allows; move the project to a shorter path or set DATABASE_URL", dir, n)
	}
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, logger: logger}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if s.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	// The parent stays traversable for the postgres user; the data folder itself is private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("private database: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("private database: %w", err)
	}
	if s.cred != nil {
		if err := reachable(filepath.Dir(dir), s.cred.Uid); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, fmt.Errorf("private database: give %s to the postgres user: %w", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logger.Info("creating the private PostgreSQL cluster", "dir", dir)
		if out, err := s.run(ctx, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"); err != nil {
			return nil, fmt.Errorf("private database: initdb in %s failed: %w\n%s", dir, err, out)
		}
	}
	if _, err := s.run(ctx, "pg_ctl", "status", "-D", dir); err == nil {
		logger.Info("reusing the private PostgreSQL already running", "dir", dir)
		return s, nil
	}
	pgOpts := fmt.Sprintf("-c listen_addresses='' -k %s -p %d", dir, Port)
	if opts.Fast {
		pgOpts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	logFile := filepath.Join(dir, "server.log")
	if out, err := s.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", dir, "-l", logFile, "-o", pgOpts); err != nil {
		tail, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("private database: pg_ctl start failed: %w\n%s\n%s", err, out, lastLines(string(tail), 10))
	}
	s.owned = true
	logger.Info("private PostgreSQL started", "dir", dir)
	return s, nil
}

// URL is the connection string for database name on this server.
func (s *Server) URL(name string) string {
	q := url.Values{"host": {s.Dir}, "port": {strconv.Itoa(Port)}, "sslmode": {"disable"}}
	return "postgres://postgres@/" + url.PathEscape(name) + "?" + q.Encode()
}

// Stop stops the server if this Server started it.
func (s *Server) Stop() error {
	if s == nil || !s.owned {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := s.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", s.Dir); err != nil {
		return fmt.Errorf("private database: pg_ctl stop: %w\n%s", err, out)
	}
	s.owned = false
	s.logger.Info("private PostgreSQL stopped", "dir", s.Dir)
	return nil
}

// CreateDatabase creates database name if it does not exist yet.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	out, err := s.run(ctx, "psql", "-X", "-q", "-h", s.Dir, "-p", strconv.Itoa(Port), "-U", "postgres", "-d", "postgres", "-tAc",
		fmt.Sprintf("SELECT 1 FROM pg_database WHERE datname = '%s'", strings.ReplaceAll(name, "'", "''")))
	if err != nil {
		return fmt.Errorf("private database: look up %s: %w\n%s", name, err, out)
	}
	if strings.TrimSpace(out) == "1" {
		return nil
	}
	if out, err := s.run(ctx, "createdb", "-h", s.Dir, "-p", strconv.Itoa(Port), "-U", "postgres", name); err != nil {
		return fmt.Errorf("private database: createdb %s: %w\n%s", name, err, out)
	}
	return nil
}

func (s *Server) run(ctx context.Context, prog string, args ...string) (string, error) {
	path := filepath.Join(s.bin, prog)
	if _, err := os.Stat(path); err != nil {
		if p, err := exec.LookPath(prog); err == nil {
			path = p
		}
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = "/"
	// A group of its own keeps the terminal's Ctrl-C away from the server, so it is stopped
	// in order, after the HTTP server has drained.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func findBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("private database: running as root needs the unprivileged 'postgres' system user to run PostgreSQL " +
			"(`apt-get install postgresql` creates it), or set DATABASE_URL")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// reachable checks that the postgres user can walk down to dir, which fails for a project cloned
// under a private home folder such as /root.
func reachable(dir string, uid uint32) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("private database: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && st.Uid != uid && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("private database: the postgres user cannot enter %s (mode %v); clone the project elsewhere (e.g. under /srv or /opt), run `chmod o+x %s`, or set DATABASE_URL", d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
