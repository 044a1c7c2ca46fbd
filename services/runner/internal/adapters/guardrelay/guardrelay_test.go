package guardrelay_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/guardrelay"
)

func TestRelayForwardsWithTheRunsIdentity(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	got := make(chan rpc.GuardCheckRequest, 1)
	sub, err := n.Conn.QueueSubscribe(subjects.GuardCheck, subjects.GuardQueueGroup, func(m *nats.Msg) {
		var req rpc.GuardCheckRequest
		_ = json.Unmarshal(m.Data, &req)
		got <- req
		data, _ := json.Marshal(rpc.GuardCheckReply{Decision: "block", Rule: "git-reset-hard", Reason: "destroys work"})
		_ = m.Respond(data)
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()

	dir, err := os.MkdirTemp("", "relay")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	r, err := guardrelay.Start(dir, "RUN1", 3, guardrelay.NATS{NC: n.Conn}, 2*time.Second, testenv.Logger(t))
	require.NoError(t, err)
	defer r.Close()
	st, err := os.Stat(r.Path())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The agent claims another run: the relay corrects it.
	reply, err := guardrelay.Ask(ctx, r.Path(), rpc.GuardCheckRequest{RunID: "OTHER", Attempt: 9, Origin: "cli", Command: "git reset --hard", Cwd: "/w"})
	require.NoError(t, err)
	require.Equal(t, "block", reply.Decision)
	require.Equal(t, "git-reset-hard", reply.Rule)
	req := <-got
	require.Equal(t, "RUN1", req.RunID)
	require.Equal(t, 3, req.Attempt)
	require.Equal(t, "hook", req.Origin)
	require.Equal(t, "git reset --hard", req.Command)
}

func TestRelayAnswersAnErrorWhenNATSFails(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t) // nobody answers guard checks
	dir, err := os.MkdirTemp("", "relay")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	r, err := guardrelay.Start(dir, "RUN1", 1, guardrelay.NATS{NC: n.Conn}, 200*time.Millisecond, testenv.Logger(t))
	require.NoError(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := guardrelay.Ask(ctx, r.Path(), rpc.GuardCheckRequest{Command: "ls"})
	require.NoError(t, err)
	require.Empty(t, reply.Decision)
	require.Contains(t, reply.Error, "did not answer")

	// Garbage gets an error too, and the relay keeps serving.
	conn, err := net.Dial("unix", r.Path())
	require.NoError(t, err)
	_, _ = conn.Write([]byte("not json\n"))
	buf := make([]byte, 512)
	k, _ := conn.Read(buf)
	conn.Close()
	require.Contains(t, string(buf[:k]), "not a guard check")
	require.NoError(t, r.Close())
	_, err = os.Stat(r.Path())
	require.True(t, os.IsNotExist(err))
}
