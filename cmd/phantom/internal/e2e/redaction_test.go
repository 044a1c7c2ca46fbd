package e2e_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/redact/redacttest"
	"github.com/phantom-run/phantom/pkg/testenv"
)

// Markers are ordinary text printed beside the secrets: finding them where
// the secrets must not be proves that the places searched hold the output.
const (
	rawMarker     = "corpus-marker-raw-output"
	messageMarker = "corpus-marker-assistant-message"
)

// pause is longer than the runner's chunk interval (50 ms): each piece of a
// secret goes out as a chunk of its own unless the redactor holds it back.
const pause = "150ms"

type piece struct {
	Stdout *string `json:"stdout,omitempty"`
	Stderr *string `json:"stderr,omitempty"`
	Pause  string  `json:"pause,omitempty"`
}

// corpusPieces writes every sample of the corpus in pieces: each secret cut
// in three with a pause between, every other sample on stderr, the private
// key line by line, a key across a chunk's size cut, and secrets inside an
// assistant message of the agent's stream-json.
func corpusPieces(samples []redacttest.Sample) []piece {
	var out []piece
	add := func(stderr bool, text, pauseAfter string) {
		p := piece{Pause: pauseAfter}
		if stderr {
			p.Stderr = &text
		} else {
			p.Stdout = &text
		}
		out = append(out, p)
	}
	add(false, rawMarker+"\n", "")
	for i, s := range samples {
		stderr := i%2 == 1
		if strings.HasPrefix(s.Name, "pem/lines") {
			for _, line := range strings.SplitAfter(s.Text, "\n") {
				add(stderr, line, pause)
			}
			continue
		}
		secret := s.Secrets[0]
		at := strings.Index(s.Text, secret)
		a, b := at+len(secret)/3, at+2*len(secret)/3
		add(stderr, s.Text[:a], pause)
		add(stderr, s.Text[a:b], pause)
		add(stderr, s.Text[b:], "")
		if strings.HasPrefix(s.Name, "end/") {
			add(stderr, "\n", "") // the next sample starts a line of its own
		}
	}
	// A key across the size cut of a 1 KiB chunk, in one write.
	key := redacttest.Credentials["anthropic"]
	add(false, strings.Repeat("pad ", 1000/4)+key+" tail\n", "")
	// An assistant message of the agent's stream-json holding secrets,
	// printed in pieces: its text becomes a semantic event and a row.
	c := redacttest.Credentials
	msg, _ := json.Marshal(map[string]any{"type": "assistant", "session_id": "s1", "message": map[string]any{
		"id": "msg_corpus", "type": "message", "role": "assistant", "model": "claude-fake-1",
		"content": []any{map[string]any{"type": "text", "text": messageMarker + " token " + c["github-pat"] + " in postgres://app:" + c["url-password"] +
			"@db/app and\n" + redacttest.PrivateKey()}},
	}})
	line := string(msg) + "\n"
	third := len(line) / 3
	add(false, line[:third], pause)
	add(false, line[third:2*third], pause)
	add(false, line[2*third:], "")
	return out
}

// TestNoSecretOfTheCorpusIsStored runs the fake agent printing the corpus
// of fake credentials in every shape through the whole of Phantom, and
// then searches for every part of every secret in the NATS store files,
// every table of the read models, the logs of every service and the run's
// event stream as the API serves it.
func TestNoSecretOfTheCorpusIsStored(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dataDir := t.TempDir()
	dbURL := testenv.Postgres(t)
	b := setupLogged(t, map[string]string{
		"PHANTOM_DATA_DIR":           dataDir,
		"PHANTOM_DATABASE_URL":       dbURL,
		"PHANTOM_LOG_LEVEL":          "debug",
		"PHANTOM_RUNNER_CHUNK_BYTES": "1024",
		// A secret the runner holds, known by its value only.
		"CORPUS_API_TOKEN": redacttest.ExactValue,
	}, log)

	samples := redacttest.Samples()
	work := t.TempDir()
	raw, err := json.Marshal(corpusPieces(samples))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(work, "pieces.json"), raw, 0o600))

	runID := b.submit(t, map[string]any{"agent": "fake", "prompt": "pieces=pieces.json done", "workspace": work, "isolation": "none"})
	stream := b.follow(t, runID)
	b.waitStatus(t, runID, "completed")

	sse, err := json.Marshal(stream)
	require.NoError(t, err)
	require.Contains(t, string(sse), rawMarker, "the event stream holds the output")
	require.Empty(t, redacttest.Leaks(string(sse), samples), "the event stream")

	// The read models, once the projector has the assistant message.
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var dump string
	require.Eventually(t, func() bool {
		dump = dumpTables(t, ctx, conn)
		return strings.Contains(dump, messageMarker) && strings.Contains(dump, rawMarker)
	}, 30*time.Second, 100*time.Millisecond, "the projector never stored the run's output")
	require.Empty(t, redacttest.Leaks(dump, samples), "the PostgreSQL tables")

	// The JetStream store files (written asynchronously: wait for the
	// marker that is printed first to be there).
	var store string
	require.Eventually(t, func() bool {
		store = readTree(t, filepath.Join(dataDir, "nats"))
		return strings.Contains(store, rawMarker) && strings.Contains(store, messageMarker)
	}, 30*time.Second, 100*time.Millisecond, "the NATS store files never held the run's output")
	require.Empty(t, redacttest.Leaks(store, samples), "the NATS store files")

	require.NotEmpty(t, logs.String())
	require.Empty(t, redacttest.Leaks(logs.String(), samples), "the logs")
}

// dumpTables is every row of every table of the public schema, as text.
func dumpTables(t *testing.T, ctx context.Context, conn *pgx.Conn) string {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "run_events")
	var out strings.Builder
	for _, table := range tables {
		var text *string
		require.NoError(t, conn.QueryRow(ctx, `SELECT string_agg(t::text, E'\n') FROM `+pgx.Identifier{table}.Sanitize()+` t`).Scan(&text))
		if text != nil {
			out.WriteString(*text)
			out.WriteString("\n")
		}
	}
	return out.String()
}

// readTree is the content of every file under dir.
func readTree(t *testing.T, dir string) string {
	t.Helper()
	var out strings.Builder
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out.Write(data)
		return nil
	}))
	return out.String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
