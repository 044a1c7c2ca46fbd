package privatepg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/testenv"
)

type bundle struct {
	t   *testing.T
	ctx context.Context
	cfg Config
}

// setup finds the installed PostgreSQL (skipping only when there is none
// and CI is unset) and prepares a private directory for a cluster. As root
// the temp dirs are made searchable, as a user's data dir must be.
func setup(t *testing.T) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	if _, searched, err := FindBinaries(ctx, 0); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL installed (searched %v) and CI=true", searched)
		}
		t.Skipf("no PostgreSQL installed (searched %v)", searched)
	}
	base := t.TempDir()
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chmod(base, 0o711))
		require.NoError(t, os.Chmod(filepath.Dir(base), 0o711))
	}
	return &bundle{t: t, ctx: ctx, cfg: Config{Dir: filepath.Join(base, "postgres"), Logger: testenv.Logger(t)}}
}

func (b *bundle) start() *Server {
	b.t.Helper()
	s, err := Start(b.ctx, b.cfg)
	require.NoError(b.t, err)
	b.t.Cleanup(func() {
		if s.running() {
			_ = s.Stop(context.Background())
		}
	})
	return s
}

func (b *bundle) exec(s *Server, sql string, args ...any) {
	b.t.Helper()
	conn, err := pgx.Connect(b.ctx, s.URL())
	require.NoError(b.t, err)
	defer conn.Close(b.ctx)
	_, err = conn.Exec(b.ctx, sql, args...)
	require.NoError(b.t, err)
}

func (b *bundle) count(s *Server) int {
	b.t.Helper()
	conn, err := pgx.Connect(b.ctx, s.URL())
	require.NoError(b.t, err)
	defer conn.Close(b.ctx)
	var n int
	require.NoError(b.t, conn.QueryRow(b.ctx, "SELECT count(*) FROM kept").Scan(&n))
	return n
}

func TestStartStopRestartKeepsData(t *testing.T) {
	b := setup(t)
	s := b.start()
	require.True(t, s.running())
	b.exec(s, "CREATE TABLE kept (v int)")
	b.exec(s, "INSERT INTO kept VALUES (1), (2)")
	if os.Geteuid() == 0 {
		st, err := os.Stat(filepath.Join(b.cfg.Dir, "data", "PG_VERSION"))
		require.NoError(t, err)
		require.NotEqual(t, 0, int(statUID(st)), "as root the cluster belongs to an unprivileged user")
	}
	sock := filepath.Join(b.cfg.Dir, ".s.PGSQL."+strconv.Itoa(s.Port()))
	_, err := os.Stat(sock)
	require.NoError(t, err, "the unix socket lives in the data dir")

	require.NoError(t, s.Stop(b.ctx))
	require.False(t, s.running())
	_, err = os.Stat(filepath.Join(b.cfg.Dir, "data", "postmaster.pid"))
	require.ErrorIs(t, err, os.ErrNotExist, "a clean stop leaves no pid file")

	s2 := b.start()
	require.Equal(t, 2, b.count(s2), "rows survive a restart")
	require.NoError(t, s2.Stop(b.ctx))
}

func TestStalePidFileDoesNotBlockStart(t *testing.T) {
	b := setup(t)
	s := b.start()
	b.exec(s, "CREATE TABLE kept (v int)")
	require.NoError(t, s.Stop(b.ctx))

	port, err := freePort()
	require.NoError(t, err)
	b.cfg.Port = port // PHANTOM_POSTGRES_PORT

	// A crash leaves postmaster.pid naming a process that is gone (or a
	// pid reused by something else: ours, which is no postmaster).
	for _, pid := range []int{deadPID(t), os.Getpid()} {
		pidfile := filepath.Join(b.cfg.Dir, "data", "postmaster.pid")
		require.NoError(t, os.WriteFile(pidfile, []byte(strconv.Itoa(pid)+"\n"+filepath.Join(b.cfg.Dir, "data")+"\n"), 0o600))
		s = b.start()
		require.Equal(t, port, s.Port())
		require.Contains(t, s.URL(), fmt.Sprintf("@127.0.0.1:%d/phantom", port))
		require.Equal(t, 0, b.count(s))
		require.NoError(t, s.Stop(b.ctx))
	}
}

func TestServerLeftRunningIsStoppedAndRestarted(t *testing.T) {
	b := setup(t)
	s := b.start()
	b.exec(s, "CREATE TABLE kept (v int)")
	b.exec(s, "INSERT INTO kept VALUES (7)")
	// phantom up was killed: its lock is gone but pg_ctl's server lives on.
	s.lock.Release()

	s2 := b.start()
	require.Equal(t, 1, b.count(s2))
	require.NoError(t, s2.Stop(b.ctx))
}

func TestSecondStartOnSameDirIsRefused(t *testing.T) {
	b := setup(t)
	s := b.start()
	_, err := Start(b.ctx, b.cfg)
	require.ErrorContains(t, err, "locked by another process")
	require.NoError(t, s.Stop(b.ctx))
}

func TestFindPrefersTheClusterVersion(t *testing.T) {
	ctx := context.Background()
	b, _, err := FindBinaries(ctx, 0)
	if err != nil {
		t.Skip("no PostgreSQL installed")
	}
	other := t.TempDir()
	got, searched, err := findIn(ctx, []string{other, b.Dir}, b.Major)
	require.NoError(t, err)
	require.Equal(t, b.Dir, got.Dir)
	require.Contains(t, searched, other)
	_, _, err = findIn(ctx, []string{other}, 0)
	require.Error(t, err)
}

func TestRootUserMustReachTheDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	a, err := lookupAccount("")
	require.NoError(t, err)
	closed := filepath.Join(t.TempDir(), "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	err = a.checkReachable(filepath.Join(closed, "postgres"))
	require.ErrorContains(t, err, "cannot enter "+closed)
	require.ErrorContains(t, err, "PHANTOM_DATABASE_URL")
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}
