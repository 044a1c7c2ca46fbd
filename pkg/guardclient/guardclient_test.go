package guardclient_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/pkg/testenv"
)

func TestClientAsksTheServiceAndStampsTheRun(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	g := testenv.StartGuard(t, n.Conn)
	g.Judge(func(rpc.GuardCheckRequest) rpc.GuardCheckReply {
		return rpc.GuardCheckReply{Decision: guard.Block, Rule: "custom:x", Reason: "because", Mode: "strict"}
	})
	nc, _ := n.Connect(t)
	reply, err := guardclient.New(nc).Check(guardclient.WithRun(context.Background(), "01JRUN", 3), rpc.GuardCheckRequest{Command: "ls", Origin: rpc.GuardOriginWorktree})
	require.NoError(t, err)
	require.Equal(t, rpc.GuardCheckReply{Decision: guard.Block, Rule: "custom:x", Reason: "because", Mode: "strict"}, reply)
	req := g.Requests()[0]
	require.Equal(t, "01JRUN", req.RunID)
	require.Equal(t, 3, req.Attempt)
	require.Equal(t, rpc.GuardOriginWorktree, req.Origin)

	// A request that names its run keeps it.
	_, err = guardclient.New(nc).Check(guardclient.WithRun(context.Background(), "01JRUN", 3), rpc.GuardCheckRequest{Command: "ls", RunID: "01JOTHER", Attempt: 1})
	require.NoError(t, err)
	require.Equal(t, "01JOTHER", g.Requests()[1].RunID)
}

func TestClientFailsWhenTheServiceCannotBeAsked(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	nc, _ := n.Connect(t)
	c := guardclient.New(nc, guardclient.WithTimeout(300*time.Millisecond))
	_, err := c.Check(context.Background(), rpc.GuardCheckRequest{Command: "git status"})
	require.ErrorContains(t, err, "could not reach the safety guard on phantom.rpc.guard.check")

	// An answer without a decision is no answer.
	g := testenv.StartGuard(t, n.Conn)
	g.Judge(func(rpc.GuardCheckRequest) rpc.GuardCheckReply {
		return rpc.GuardCheckReply{Error: "could not reach NATS"}
	})
	_, err = c.Check(context.Background(), rpc.GuardCheckRequest{Command: "git status"})
	require.ErrorContains(t, err, `the safety guard answered decision ""`)
}

func TestProjectRuleFileIsFoundUpToTheRepositoryTop(t *testing.T) {
	t.Parallel()
	outer := t.TempDir()
	repo := filepath.Join(outer, "repo")
	deep := filepath.Join(repo, "a", "b")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outer, ".safety-net.json"), []byte(`{}`), 0o644))
	require.Empty(t, guardclient.ProjectRuleFile(deep), "a file above the repository is not the project's")
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".safety-net.json"), []byte(`{"version":1}`), 0o644))
	require.Equal(t, filepath.Join(repo, ".safety-net.json"), guardclient.ProjectRuleFile(deep))

	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".cc-safety-net"), 0o755))
	require.NoError(t, os.WriteFile(guardclient.UserRuleFile(home), []byte(`{"version":1,"rules":[]}`), 0o644))
	files, err := guardclient.ReadRuleFiles(deep, home)
	require.NoError(t, err)
	require.Len(t, files, 2)
	require.Equal(t, guardclient.UserRuleFile(home), files[0].Path, "the user's file first, so the project's wins")
	require.Equal(t, `{"version":1}`, files[1].Content)
}

func TestCommandEnvKeepsWhatTheEngineReadsAndNoSecrets(t *testing.T) {
	t.Parallel()
	env := guardclient.CommandEnv([]string{"HOME=/home/u", "TMPDIR=/tmp/x", "GIT_DIR=/r/.git", "GIT_TOKEN=s3cret",
		"ANTHROPIC_API_KEY=sk-ant-x", "PATH=/bin", "CODEX_HOME=/c", "broken"})
	require.Equal(t, map[string]string{"HOME": "/home/u", "TMPDIR": "/tmp/x", "GIT_DIR": "/r/.git", "CODEX_HOME": "/c"}, env)
}

// ShellJoin's output parses back to the same words in a real shell.
func TestShellJoinParsesBackToTheSameWords(t *testing.T) {
	t.Parallel()
	argv := []string{"git", "-C", "/tmp/a dir", "commit", "-m", "it's $HOME; `x` | y", "", "plain-word_1.2"}
	line := guardclient.ShellJoin(argv...)
	require.Equal(t, `git -C '/tmp/a dir' commit -m 'it'\''s $HOME; `+"`x`"+` | y' '' plain-word_1.2`, line)
	got, err := exec.Command("/bin/sh", "-c", "set -- "+line+`; for a in "$@"; do printf '[%s]\n' "$a"; done`).Output()
	require.NoError(t, err)
	var want string
	for _, a := range argv {
		want += "[" + a + "]\n"
	}
	require.Equal(t, want, string(got))
}
