package e2eagents

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// secrets are fake secrets of the formats the runner redacts.
var secrets = []string{
	"sk-ant-api03-Xk2f9QmZr7LpT4vB8nW1cY6dH3jK0sA5eU9iO2pG7qR4tV",
	"sk-proj-4fGh7Jk2Lm9Np3Qr6St8Uv1Wx5Yz0Ab4Cd7Ef",
	"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
	"AKIAIOSFODNN7EXAMPLE",
	"xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
	"AIzaSyD3xMpL9vQ2rT7uW1yZ4aB6cE8fH0jK5nP",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
	"Zx8Kq2Lp9Vm4Nt7Rb3Wc6Yd1Hf5Jg0Ts8Ue2Io",
}

// TestSecretsNeverReachTheStreamTheLogsOrPostgres has the fake agent print
// a corpus of fake secrets (a file of the workspace read by a tool, and the
// provider token the runner holds in its environment) and checks that none
// reaches the run's events, the logs of all of Phantom or any read model.
func TestSecretsNeverReachTheStreamTheLogsOrPostgres(t *testing.T) {
	const token = "provider-token-9f8e7d6c5b4a39281706"
	t.Setenv("SOME_PROVIDER_API_KEY", token)
	b := setup(t)
	var file strings.Builder
	for i, s := range secrets {
		file.WriteString([]string{"key: ", "export TOKEN=", "password=", "Authorization: Bearer ", ""}[i%5] + s + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(b.ws, "secrets.txt"), []byte(file.String()), 0o600))
	id := b.submit("/v1/runs", map[string]any{"agent": "fake", "workspace": b.ws, "isolation": "none",
		"prompt": `read it tool-exec=1 tool="Bash:cat secrets.txt; echo $SOME_PROVIDER_API_KEY" exit=1`})
	s := b.follow(id)
	require.Equal(t, "run.failed", lastType(s), s.String())
	all := append(append([]string(nil), secrets...), token)
	var sawTool bool
	for _, e := range s {
		for _, sec := range all {
			require.NotContains(t, string(e.Data), sec, "%s carries a secret", e.Type)
		}
		if e.Type == "run.semantic" && strings.Contains(string(e.Data), `"kind":"tool_result"`) {
			sawTool = true
			require.Contains(t, string(e.Data), "[REDACTED]")
		}
	}
	require.True(t, sawTool, "the tool ran and its output was published, redacted")
	b.run(id, "failed")
	_, _, _ = b.readModels(id, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, table := range []string{"run_events", "runs", "messages", "tool_calls", "usage"} {
		var dump string
		require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(string_agg(to_jsonb(t)::text, ' '), '') FROM `+table+` t`).Scan(&dump))
		for _, sec := range all {
			require.NotContains(t, dump, sec, "table %s holds a secret", table)
		}
	}
	for _, sec := range all {
		require.NotContains(t, b.logs.String(), sec, "the logs hold a secret")
	}
}
