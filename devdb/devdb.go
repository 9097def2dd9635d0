// Package devdb runs a private PostgreSQL server for development and tests, from the system's
// own PostgreSQL binaries, with its data and its Unix socket in one folder.
//
// Listening only on a socket inside the data folder means it never fights over port 5432 with a
// server the machine already runs, and nobody has to configure a database to try infradash.
package devdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	Dir  string
	bin  string
	cred *syscall.Credential
	// lock is Dir+".lock", held shared while this Server is in use: whoever finishes last
	// (Stop gets the lock exclusively) stops the server, whether it started it or found it
	// running, so a server left by a crash is stopped by the next run while a command that
	// reuses a running serve's server leaves it alone.
	lock   *os.File
	logger *slog.Logger
}

// relocatedRoot holds the clusters of projects that the postgres user cannot reach.
const relocatedRoot = "/var/lib/infradash-dev"

// DataDir is where the private server keeps the data meant for wanted: wanted itself when the
// user PostgreSQL runs as can reach it. Run as root with the project in a folder the postgres
// user cannot enter (a clone under /root, mode 0700), it is a folder of that project's own under
// /var/lib/infradash-dev, named by a hash of wanted, so every run of the same clone finds its
// data again. It creates nothing.
func DataDir(wanted string) (string, error) {
	wanted, err := filepath.Abs(wanted)
	if err != nil {
		return "", err
	}
	if os.Geteuid() != 0 {
		return wanted, nil
	}
	cred, err := postgresUser()
	if err != nil {
		return "", err
	}
	if reachable(filepath.Dir(wanted), cred.Uid) == nil {
		return wanted, nil
	}
	sum := sha256.Sum256([]byte(wanted))
	return filepath.Join(relocatedRoot, hex.EncodeToString(sum[:6]), filepath.Base(wanted)), nil
}

// ErrNoBinaries means PostgreSQL's server programs are not installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; " +
	"install them with `sudo apt-get install postgresql` (or set DATABASE_URL to an existing server)")

// Start starts a server with its data in dir, creating the cluster on first use. A server already
// running in dir (left by a crash, or used by another process) is reused. Stop stops it unless
// another process still uses it.
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
	if s.lock, err = lockShared(ctx, dir+".lock"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.lock.Close()
		}
	}()
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logger.Info("creating the private PostgreSQL cluster", "dir", dir)
		if out, err := s.run(ctx, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"); err != nil {
			return nil, fmt.Errorf("private database: initdb in %s failed: %w\n%s", dir, err, out)
		}
	}
	if s.running(ctx) {
		logger.Info("reusing the private PostgreSQL already running", "dir", dir)
		ok = true
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
	ok = true
	logger.Info("private PostgreSQL started", "dir", dir)
	return s, nil
}

// lockShared opens path and takes a shared lock on it, waiting while a Stop elsewhere holds it
// exclusively (it is stopping the server this process is about to use).
func lockShared(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("private database: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("private database: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) running(ctx context.Context) bool {
	_, err := s.run(ctx, "pg_ctl", "status", "-D", s.Dir)
	return err == nil
}

// URL is the connection string for database name on this server.
func (s *Server) URL(name string) string {
	q := url.Values{"host": {s.Dir}, "port": {strconv.Itoa(Port)}, "sslmode": {"disable"}}
	return "postgres://postgres@/" + url.PathEscape(name) + "?" + q.Encode()
}

// Stop stops the server, unless another process still uses it (then the last one to finish
// does). A second Stop does nothing.
func (s *Server) Stop() error {
	if s == nil || s.lock == nil {
		return nil
	}
	defer func() {
		_ = s.lock.Close()
		s.lock = nil
	}()
	// Converting the shared lock fails at once while anyone else holds theirs.
	if err := syscall.Flock(int(s.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		s.logger.Info("leaving the private PostgreSQL running: another infradash process uses it", "dir", s.Dir)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if !s.running(ctx) {
		return nil
	}
	if out, err := s.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", s.Dir); err != nil {
		return fmt.Errorf("private database: pg_ctl stop: %w\n%s", err, out)
	}
	s.logger.Info("private PostgreSQL stopped", "dir", s.Dir)
	return nil
}

// StopCommand is the command line that stops the server by hand, run as whoever runs it.
func (s *Server) StopCommand() string {
	line := filepath.Join(s.bin, "pg_ctl") + " stop -m fast -D " + s.Dir
	if s.cred != nil {
		return "runuser -u postgres -- " + line
	}
	return line
}

// Program finds a PostgreSQL program (psql, pg_dump): beside the server binaries, or on PATH.
func Program(name string) (string, error) {
	if bin, err := findBinaries(); err == nil {
		if p := filepath.Join(bin, name); isFile(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH or beside the PostgreSQL server binaries; install it with `sudo apt-get install postgresql-client`", name)
	}
	return p, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
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
// under a private home folder such as /root. Folders not made yet are made traversable by Start.
func reachable(dir string, uid uint32) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) && d != filepath.Dir(d) {
			continue
		}
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
