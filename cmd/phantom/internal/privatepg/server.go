// Package privatepg runs a PostgreSQL server that belongs to one Phantom
// data directory, for `phantom up` without PHANTOM_DATABASE_URL: it uses the
// PostgreSQL installed on the machine (downloading one only when none is),
// creates the cluster once, starts it with pg_ctl on 127.0.0.1 and a unix
// socket in its directory (trust authentication: only this machine reaches
// it), and stops it with `pg_ctl stop -m fast`.
//
// PostgreSQL refuses to run as root; when Phantom is root the cluster is
// owned by and run as an unprivileged user (nobody by default).
//
// Layout under Config.Dir:
//
//	data/          the cluster (PGDATA)
//	server.log     PostgreSQL's log
//	.s.PGSQL.<port> the unix socket
//	dist/          PostgreSQL binaries, only when they had to be downloaded
package privatepg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/cmd/phantom/internal/dirlock"
)

// Config says where and how to run the server.
type Config struct {
	// Dir holds the cluster, its log and socket; created when missing.
	Dir string
	// Port on 127.0.0.1; 0 picks a free one at each start.
	Port int
	// BinDir, when set, is the directory of initdb, pg_ctl and postgres to use.
	BinDir string
	// User runs the server when this process is root (default nobody).
	User string
	// Database is created once (default "phantom").
	Database string
	// Download allows fetching PostgreSQL when none is installed.
	Download bool
	Logger   *slog.Logger
}

// Superuser is the cluster's superuser name.
const Superuser = "phantom"

// Server is a running private PostgreSQL.
type Server struct {
	cfg  Config
	bins Binaries
	as   *account
	port int
	lock *dirlock.Lock
	log  *slog.Logger
}

func (s *Server) pgdata() string  { return filepath.Join(s.cfg.Dir, "data") }
func (s *Server) logfile() string { return filepath.Join(s.cfg.Dir, "server.log") }

// URL is the connection URL of the Phantom database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, s.cfg.Database)
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Binaries are the PostgreSQL programs in use.
func (s *Server) Binaries() Binaries { return s.bins }

// Start makes sure the cluster exists, starts it, waits until it accepts
// connections and creates the database. A postmaster.pid left by a crash does
// not block it: a dead pid's file is removed, and a server still running on
// this directory from an earlier process is stopped first.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("privatepg: Dir is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("PHANTOM_POSTGRES_PORT %d must be 0..65535", cfg.Port)
	}
	if cfg.Database == "" {
		cfg.Database = "phantom"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	var err error
	if s.as, err = lookupAccount(cfg.User); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("could not create %s: %w", cfg.Dir, err)
	}
	if err := s.as.checkReachable(cfg.Dir); err != nil {
		return nil, err
	}
	if s.lock, err = dirlock.Acquire(filepath.Join(cfg.Dir, "phantom.lock")); err != nil {
		return nil, fmt.Errorf("could not use the private PostgreSQL in %s: %w", cfg.Dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			s.lock.Release()
		}
	}()
	if err := s.as.own(cfg.Dir); err != nil {
		return nil, err
	}
	if s.bins, err = s.findBinaries(ctx); err != nil {
		return nil, err
	}
	if err := s.initOnce(ctx); err != nil {
		return nil, err
	}
	if err := s.clearStale(ctx); err != nil {
		return nil, err
	}
	if s.port = cfg.Port; s.port == 0 {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := s.writeSettings(); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	if err := s.createDatabase(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.pgctl(sctx, "stop", "-m", "fast", "-w", "-t", "60")
		return nil, err
	}
	ok = true
	s.log.Info("private PostgreSQL ready", "url", s.URL(), "dir", cfg.Dir, "version", s.bins.Major, "binaries", s.bins.Dir)
	return s, nil
}

// Stop shuts the server down (fast mode: sessions are ended, nothing is
// lost) and waits for it.
func (s *Server) Stop(ctx context.Context) error {
	defer s.lock.Release()
	err := s.pgctl(ctx, "stop", "-m", "fast", "-w", "-t", "60")
	if err != nil && s.running() {
		s.log.Warn("fast stop of PostgreSQL failed, stopping it immediately", "error", err)
		if err2 := s.pgctl(ctx, "stop", "-m", "immediate", "-w", "-t", "30"); err2 != nil {
			return fmt.Errorf("could not stop PostgreSQL: %w", err2)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("could not stop PostgreSQL: %w", err)
	}
	s.log.Info("private PostgreSQL stopped")
	return nil
}

func (s *Server) findBinaries(ctx context.Context) (Binaries, error) {
	if s.cfg.BinDir != "" {
		b, err := Inspect(ctx, s.cfg.BinDir)
		if err != nil {
			return Binaries{}, fmt.Errorf("PHANTOM_POSTGRES_BIN_DIR: %w", err)
		}
		return b, nil
	}
	want := s.clusterMajor()
	dist := filepath.Join(s.cfg.Dir, "dist", "bin")
	b, searched, err := findIn(ctx, append([]string{dist}, candidateDirs(ctx)...), want)
	if err == nil {
		if want != 0 && b.Major != want {
			return Binaries{}, fmt.Errorf("the private PostgreSQL in %s was created by PostgreSQL %d, but only PostgreSQL %d is installed (%s): "+
				"set PHANTOM_POSTGRES_BIN_DIR to a PostgreSQL %d bin directory, or move %s away to start afresh", s.cfg.Dir, want, b.Major, b.Dir, want, s.pgdata())
		}
		return b, nil
	}
	if !s.cfg.Download {
		return Binaries{}, fmt.Errorf("no PostgreSQL found (searched %s): install PostgreSQL, set PHANTOM_POSTGRES_BIN_DIR, or set PHANTOM_DATABASE_URL", strings.Join(searched, ", "))
	}
	s.log.Warn("no PostgreSQL installed on this machine; downloading PostgreSQL binaries once with embedded-postgres", "searched", strings.Join(searched, ", "), "into", filepath.Dir(dist))
	if err := download(ctx, s.cfg.Dir, s.as); err != nil {
		return Binaries{}, fmt.Errorf("no PostgreSQL found (searched %s) and could not download one: %w; install PostgreSQL or set PHANTOM_DATABASE_URL", strings.Join(searched, ", "), err)
	}
	return Inspect(ctx, dist)
}

// clusterMajor is the major version an existing cluster was made with (0: none).
func (s *Server) clusterMajor() int {
	b, err := os.ReadFile(filepath.Join(s.pgdata(), "PG_VERSION"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bins.path(name), args...)
	cmd.Dir = s.cfg.Dir
	cmd.Env = []string{
		"PATH=" + s.bins.Dir + string(os.PathListSeparator) + "/usr/bin:/bin",
		"HOME=" + s.cfg.Dir,
		"LC_ALL=C",
		"LANG=C",
	}
	s.as.apply(cmd)
	// A terminal's Ctrl-C goes to the foreground process group; PostgreSQL
	// must not see it, so that Phantom stops it last, after the services.
	cmd.SysProcAttr.Setpgid = true
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (s *Server) run(ctx context.Context, name string, args ...string) error {
	cmd := s.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s failed: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (s *Server) pgctl(ctx context.Context, args ...string) error {
	return s.run(ctx, "pg_ctl", append(append([]string{}, args[0], "-D", s.pgdata()), args[1:]...)...)
}

func (s *Server) initOnce(ctx context.Context) error {
	if s.clusterMajor() != 0 {
		return nil
	}
	// initdb works in a scratch directory renamed into place when complete,
	// so an interrupted first start leaves no half-made cluster behind.
	pgdata, scratch := s.pgdata(), s.pgdata()+".init"
	for _, d := range []string{pgdata, scratch} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("could not clear %s: %w", d, err)
		}
	}
	s.log.Info("creating the private PostgreSQL cluster", "dir", pgdata, "version", s.bins.Major)
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := s.run(cctx, "initdb", "-D", scratch, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--no-locale"); err != nil {
		return fmt.Errorf("could not create the PostgreSQL cluster: %w", err)
	}
	conf := filepath.Join(scratch, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("could not edit %s: %w", conf, err)
	}
	_, err = f.WriteString("\n# Written by Phantom at each start: port, addresses, socket.\ninclude_if_exists = 'phantom.conf'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("could not edit %s: %w", conf, err)
	}
	if err := os.Rename(scratch, pgdata); err != nil {
		return fmt.Errorf("could not move the new cluster into place: %w", err)
	}
	return nil
}

// maxSocketPath is below the sun_path limit (108 on Linux, 104 on macOS).
const maxSocketPath = 100

func (s *Server) writeSettings() error {
	socketDir := s.cfg.Dir
	if len(filepath.Join(socketDir, ".s.PGSQL."+strconv.Itoa(s.port))) > maxSocketPath {
		s.log.Warn("the data dir path is too long for a unix socket; PostgreSQL listens on TCP only", "dir", socketDir)
		socketDir = ""
	}
	quote := func(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
	body := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = %s\n", s.port, quote(socketDir))
	p := filepath.Join(s.pgdata(), "phantom.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		return fmt.Errorf("could not write %s: %w", p, err)
	}
	return s.as.own(p)
}

func (s *Server) start(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.pgctl(cctx, "start", "-w", "-t", "90", "-l", s.logfile()); err != nil {
		return fmt.Errorf("could not start PostgreSQL: %w%s", err, s.logTail())
	}
	return nil
}

// logTail is the end of the server's log, to explain a failed start.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logfile())
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\n" + s.logfile() + ":\n" + strings.TrimSpace(string(b))
}

func (s *Server) createDatabase(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", Superuser, s.port))
	if err != nil {
		return fmt.Errorf("could not connect to the private PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(cctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", s.cfg.Database).Scan(&exists); err != nil {
		return fmt.Errorf("could not look for database %s: %w", s.cfg.Database, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{s.cfg.Database}.Sanitize()); err != nil {
		return fmt.Errorf("could not create database %s: %w", s.cfg.Database, err)
	}
	return nil
}

// clearStale deals with a postmaster.pid that outlived its phantom up: a
// server still running on this cluster (phantom was killed, pg_ctl's server
// lives on) is stopped; the file of a dead server is removed.
func (s *Server) clearStale(ctx context.Context) error {
	pidfile := filepath.Join(s.pgdata(), "postmaster.pid")
	b, err := os.ReadFile(pidfile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("could not read %s: %w", pidfile, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if pid > 0 && s.isOurPostmaster(pid) {
		s.log.Warn("a PostgreSQL from an earlier run still serves this cluster; stopping it", "pid", pid)
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := s.pgctl(cctx, "stop", "-m", "fast", "-w", "-t", "60"); err != nil {
			return fmt.Errorf("could not stop the PostgreSQL left running on %s (pid %d): %w", s.pgdata(), pid, err)
		}
		return nil
	}
	s.log.Info("removing a stale postmaster.pid", "pid", pid)
	if err := os.Remove(pidfile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("could not remove the stale %s: %w", pidfile, err)
	}
	return nil
}

// isOurPostmaster reports whether pid is alive and is a postgres serving
// this cluster. A reused pid (common in containers after a restart) belongs
// to someone else and must not be signalled.
func (s *Server) isOurPostmaster(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
		want, _ := filepath.EvalSymlinks(s.pgdata())
		return cwd == want || cwd == s.pgdata()
	}
	// No /proc (macOS): fall back to the program's name.
	out, err := exec.Command("ps", "-p", strconv.Itoa(pid), "-o", "comm=").Output()
	return err == nil && strings.Contains(string(out), "postgres")
}

func (s *Server) running() bool {
	b, err := os.ReadFile(filepath.Join(s.pgdata(), "postmaster.pid"))
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid > 0 && s.isOurPostmaster(pid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("could not find a free port for PostgreSQL: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
