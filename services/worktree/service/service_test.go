package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/datadir"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/worktree/service"
)

const host = "testhost"

type bundle struct {
	t     *testing.T
	ctx   context.Context
	nats  *testenv.NATS
	guard *testenv.Guard
	cfg   service.Config
	stop  func()
}

// setup starts NATS, a stand-in for the safety guard that blocks forced
// worktree removal as the guard does by default (and allows everything
// else), and the worktree service.
func setup(t *testing.T, roots ...string) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := &bundle{t: t, ctx: ctx, nats: testenv.StartNATS(t)}
	b.guard = testenv.StartGuard(t, b.nats.Conn)
	b.guard.Judge(blockForcedRemoval)
	b.cfg = service.Config{Host: host, WorkspaceRoots: roots, DataDir: t.TempDir(), GitTimeout: 30 * time.Second}
	b.start()
	return b
}

// start runs a worktree service until the test ends (or b.stop).
func (b *bundle) start() {
	t := b.t
	env := daemon.Env{Name: "worktree", Instance: "wt-test", Logger: testenv.Logger(t), Conn: b.nats.Conn, JS: b.nats.JS,
		Metrics: prometheus.NewRegistry(), Streams: streams.DefaultOptions()}
	svc, err := service.New(b.ctx, b.cfg, env)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Error("the worktree service did not stop within 10s")
			}
		})
	}
	t.Cleanup(b.stop)
	// Ready once it answers.
	require.Eventually(t, func() bool {
		_, err := b.nats.Conn.Request(rpc.WorktreeRemoveSubject(host), []byte(`{"runId":"ping"}`), time.Second)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
}

func (b *bundle) prepare(req rpc.WorktreePrepareRequest) rpc.WorktreePrepareReply {
	b.t.Helper()
	if req.Attempt == 0 {
		req.Attempt = 1
	}
	data, err := json.Marshal(req)
	require.NoError(b.t, err)
	msg, err := b.nats.Conn.Request(rpc.WorktreePrepareSubject(host), data, 30*time.Second)
	require.NoError(b.t, err)
	var reply rpc.WorktreePrepareReply
	require.NoError(b.t, json.Unmarshal(msg.Data, &reply))
	return reply
}

func (b *bundle) remove(runID string, force bool) rpc.WorktreeRemoveReply {
	b.t.Helper()
	data, err := json.Marshal(rpc.WorktreeRemoveRequest{RunID: runID, Force: force})
	require.NoError(b.t, err)
	msg, err := b.nats.Conn.Request(rpc.WorktreeRemoveSubject(host), data, 30*time.Second)
	require.NoError(b.t, err)
	var reply rpc.WorktreeRemoveReply
	require.NoError(b.t, json.Unmarshal(msg.Data, &reply))
	return reply
}

// preparedEvents returns the run.worktree_prepared events of a run.
func (b *bundle) preparedEvents(runID string) []*events.RunWorktreePrepared {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, "run.worktree_prepared")},
	})
	require.NoError(b.t, err)
	var out []*events.RunWorktreePrepared
	for {
		msg, err := c.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
		if err != nil {
			return out
		}
		ev, err := bus.DecodeEvent(msg)
		require.NoError(b.t, err)
		require.Equal(b.t, fmt.Sprint(ev.Payload.(*events.RunWorktreePrepared).Attempt), ev.Extensions["attempt"])
		out = append(out, ev.Payload.(*events.RunWorktreePrepared))
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// newRepo makes a repository with one commit holding README.md and sub/.keep.
func newRepo(t *testing.T, parent string) string {
	t.Helper()
	dir := filepath.Join(parent, "app")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	git(t, dir, "init", "-q", "-b", "main")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("hello\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", ".keep"), nil, 0o644))
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "first")
	return resolved(t, dir)
}

func resolved(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

func TestPrepareMakesAWorktreeOnARunBranchAndReusesIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	head := git(t, repo, "rev-parse", "HEAD")

	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "run1", Workspace: repo})
	require.Empty(t, r.Error)
	require.True(t, r.Isolated)
	require.False(t, r.Reused)
	require.Equal(t, repo, r.Repo)
	require.Equal(t, "phantom/run1", r.Branch)
	require.Equal(t, head, r.BaseRef)
	wtDir := resolved(t, filepath.Join(b.cfg.DataDir, "worktrees"))
	require.True(t, strings.HasPrefix(r.Dir, wtDir+"/app-"), r.Dir)
	require.Equal(t, "run1", filepath.Base(r.Dir))
	require.FileExists(t, filepath.Join(r.Dir, "README.md"))
	require.Equal(t, "phantom/run1", git(t, r.Dir, "rev-parse", "--abbrev-ref", "HEAD"))

	// The agent commits; the next attempt finds its work in place.
	require.NoError(t, os.WriteFile(filepath.Join(r.Dir, "agent.txt"), []byte("work"), 0o644))
	git(t, r.Dir, "add", ".")
	git(t, r.Dir, "commit", "-q", "-m", "agent")
	again := b.prepare(rpc.WorktreePrepareRequest{RunID: "run1", Attempt: 2, Workspace: repo})
	require.Empty(t, again.Error)
	require.True(t, again.Reused)
	require.Equal(t, r.Dir, again.Dir)
	require.FileExists(t, filepath.Join(again.Dir, "agent.txt"))

	evs := b.preparedEvents("run1")
	require.Len(t, evs, 2)
	require.Equal(t, events.RunWorktreePrepared{RunID: "run1", Attempt: 1, Host: host, Repo: repo, Path: r.Dir, Branch: "phantom/run1", BaseRef: head}, *evs[0])
	require.Equal(t, 2, evs[1].Attempt)
	require.True(t, evs[1].Reused)
}

func TestPrepareFromABaseRefAndASubdirectory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	first := git(t, repo, "rev-parse", "HEAD")
	git(t, repo, "tag", "v1")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "later.txt"), nil, 0o644))
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "later")

	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "run2", Workspace: filepath.Join(repo, "sub"), BaseRef: "v1", Isolation: "worktree"})
	require.Empty(t, r.Error)
	require.Equal(t, first, r.BaseRef)
	require.Equal(t, "sub", filepath.Base(r.Dir), "a workspace below the top level keeps its place in the worktree")
	require.NoFileExists(t, filepath.Join(filepath.Dir(r.Dir), "later.txt"))

	bad := b.prepare(rpc.WorktreePrepareRequest{RunID: "run3", Workspace: repo, BaseRef: "nope"})
	require.Equal(t, "worktree_failed", bad.Code)
	require.Contains(t, bad.Error, `base ref "nope" is not a commit`)
	bad = b.prepare(rpc.WorktreePrepareRequest{RunID: "run3", Workspace: repo, BaseRef: "--orphan"})
	require.Equal(t, "worktree_failed", bad.Code)
}

func TestPrepareWithoutIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	plain := resolved(t, t.TempDir())

	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "none", Workspace: repo, Isolation: "none"})
	require.Equal(t, rpc.WorktreePrepareReply{Dir: repo}, r)
	r = b.prepare(rpc.WorktreePrepareRequest{RunID: "auto", Workspace: plain})
	require.Equal(t, rpc.WorktreePrepareReply{Dir: plain}, r, "auto outside a repository runs in place")
	require.Empty(t, b.preparedEvents("none"))
	require.Empty(t, b.preparedEvents("auto"))

	r = b.prepare(rpc.WorktreePrepareRequest{RunID: "wt", Workspace: plain, Isolation: "worktree"})
	require.Equal(t, "worktree_failed", r.Code)
	require.Contains(t, r.Error, "is not inside a git repository")
	require.Contains(t, r.Error, `use isolation "none"`)

	r = b.prepare(rpc.WorktreePrepareRequest{RunID: "x", Workspace: plain, Isolation: "sandbox"})
	require.Equal(t, "worktree_failed", r.Code)
	require.Contains(t, r.Error, `isolation "sandbox" must be`)
}

func TestPrepareReportsAMissingWorkspace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "gone", Workspace: filepath.Join(t.TempDir(), "nowhere")})
	require.Equal(t, "cwd_missing", r.Code)
	require.Contains(t, r.Error, "does not exist on host "+host)
	r = b.prepare(rpc.WorktreePrepareRequest{RunID: "rel", Workspace: "relative/path"})
	require.Equal(t, "worktree_failed", r.Code)
	require.Contains(t, r.Error, "must be an absolute path")
}

func TestGrantsRefuseEscapes(t *testing.T) {
	t.Parallel()
	root := resolved(t, t.TempDir())
	outside := resolved(t, t.TempDir())
	inside := filepath.Join(root, "project")
	require.NoError(t, os.Mkdir(inside, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "link")))
	b := setup(t, root)

	for _, ws := range []string{
		outside,
		root + "/../" + filepath.Base(outside),
		filepath.Join(root, "link"),
		filepath.Join(root, "link", "deeper"),
		filepath.Join(outside, "missing"),
	} {
		r := b.prepare(rpc.WorktreePrepareRequest{RunID: "esc", Workspace: ws, Isolation: "none"})
		require.Equal(t, "not_granted", r.Code, ws)
	}
	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "ok", Workspace: inside, Isolation: "none"})
	require.Empty(t, r.Code)
	require.Equal(t, inside, r.Dir)
	r = b.prepare(rpc.WorktreePrepareRequest{RunID: "ok", Workspace: filepath.Join(root, "missing")})
	require.Equal(t, "cwd_missing", r.Code, "inside a root, a missing directory is reported as missing")
}

func TestRemoveKeepsTheBranch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "rm1", Workspace: repo})
	require.Empty(t, r.Error)

	require.Equal(t, rpc.WorktreeRemoveReply{Removed: true}, b.remove("rm1", false))
	require.NoDirExists(t, r.Dir)
	require.NoDirExists(t, filepath.Dir(r.Dir), "the repository's directory goes with its last worktree")
	require.NotEmpty(t, git(t, repo, "rev-parse", "--verify", "refs/heads/phantom/rm1"))
	require.Equal(t, rpc.WorktreeRemoveReply{}, b.remove("rm1", false), "removing twice is not an error")

	// A worktree with changes needs force.
	r = b.prepare(rpc.WorktreePrepareRequest{RunID: "rm2", Workspace: repo})
	require.Empty(t, r.Error)
	require.NoError(t, os.WriteFile(filepath.Join(r.Dir, "dirty.txt"), []byte("x"), 0o644))
	got := b.remove("rm2", false)
	require.False(t, got.Removed)
	require.Contains(t, got.Error, "force removes a worktree with changes")
	require.DirExists(t, r.Dir)
	// Force discards the changes: the safety guard blocks it by default
	// (TestGitCommandsPassTheSafetyGuard).
	got = b.remove("rm2", true)
	require.False(t, got.Removed)
	require.Contains(t, got.Error, "git.worktree_remove_force")
	require.DirExists(t, r.Dir)

	// A later attempt after removal gets the branch back, with its commits.
	again := b.prepare(rpc.WorktreePrepareRequest{RunID: "rm1", Attempt: 2, Workspace: repo})
	require.Empty(t, again.Error)
	require.True(t, again.Reused)
}

func TestStartPrunesWorktreesWhoseDirectoriesAreGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "lost", Workspace: repo})
	require.Empty(t, r.Error)
	require.Contains(t, git(t, repo, "worktree", "list"), r.Dir)

	b.stop()
	require.NoError(t, os.RemoveAll(r.Dir))
	b.start()
	require.NotContains(t, git(t, repo, "worktree", "list"), r.Dir)
	require.NoDirExists(t, filepath.Dir(r.Dir))
}

func TestConcurrentPreparesInOneRepository(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	var wg sync.WaitGroup
	replies := make([]rpc.WorktreePrepareReply, 6)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, _ := json.Marshal(rpc.WorktreePrepareRequest{RunID: fmt.Sprintf("c%d", i), Attempt: 1, Workspace: repo})
			msg, err := b.nats.Conn.Request(rpc.WorktreePrepareSubject(host), data, 30*time.Second)
			if err == nil {
				_ = json.Unmarshal(msg.Data, &replies[i])
			}
		}()
	}
	wg.Wait()
	for i, r := range replies {
		require.Empty(t, r.Error, "run c%d", i)
		require.DirExists(t, r.Dir)
	}
}

func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	env := daemon.Env{Name: "worktree", Instance: "x", Logger: testenv.Logger(t), Conn: n.Conn, JS: n.JS, Metrics: prometheus.NewRegistry()}
	_, err := service.New(context.Background(), service.Config{Host: "a.b", DataDir: t.TempDir()}, env)
	require.ErrorContains(t, err, "PHANTOM_HOST")
	_, err = service.New(context.Background(), service.Config{Host: "h", WorkspaceRoots: []string{"rel"}, DataDir: t.TempDir()}, env)
	require.ErrorContains(t, err, "PHANTOM_WORKSPACE_ROOTS")
	_, err = service.New(context.Background(), service.Config{Host: "h", DataDir: t.TempDir(), Concurrency: 1000}, env)
	require.ErrorContains(t, err, "PHANTOM_WORKTREE_CONCURRENCY 1000 must be in 1..256")
}

// Every default in the tags is the one DefaultConfig gives, which is what
// an embedding host that leaves a field empty gets.
func TestDefaultsMatchTheTags(t *testing.T) {
	for _, v := range []string{"PHANTOM_WORKTREE_GIT_TIMEOUT", "PHANTOM_WORKTREE_CONCURRENCY", "PHANTOM_HOST", "PHANTOM_DATA_DIR", "PHANTOM_WORKTREE_DIR", "PHANTOM_WORKSPACE_ROOTS"} {
		t.Setenv(v, "")
		require.NoError(t, os.Unsetenv(v))
	}
	var c service.Config
	require.NoError(t, config.Load(&c))
	require.Equal(t, service.DefaultConfig(), c)
}

// A service left without a data dir finds the one phantom up and the CLI
// find (pkg/datadir): PHANTOM_DATA_DIR first.
func TestTheDataDirIsPhantomsOwn(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PHANTOM_DATA_DIR", dir)
	n := testenv.StartNATS(t)
	env := daemon.Env{Name: "worktree", Instance: "x", Logger: testenv.Logger(t), Conn: n.Conn, JS: n.JS, Metrics: prometheus.NewRegistry()}
	_, err := service.New(context.Background(), service.Config{Host: "h"}, env)
	require.NoError(t, err)
	want, err := datadir.Resolve(os.Getenv)
	require.NoError(t, err)
	require.Equal(t, dir, want)
	require.DirExists(t, filepath.Join(dir, "worktrees"), "the worktrees go under the shared data dir")
}
