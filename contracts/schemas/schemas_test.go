package schemas_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/schemas"
)

func TestCommittedSchemasMatchTheTypes(t *testing.T) {
	update := os.Getenv("PHANTOM_UPDATE_SCHEMAS") == "1"
	want := map[string]bool{}
	for _, d := range schemas.Docs() {
		want[d.Path] = true
		got, err := schemas.Generate(d)
		require.NoError(t, err)
		if update {
			require.NoError(t, os.MkdirAll(filepath.Dir(d.Path), 0o755))
			require.NoError(t, os.WriteFile(d.Path, got, 0o644))
			continue
		}
		committed, err := fs.ReadFile(schemas.FS(), d.Path)
		require.NoError(t, err, "schema %s is not committed; run PHANTOM_UPDATE_SCHEMAS=1 go test ./schemas/", d.Path)
		require.True(t, bytes.Equal(committed, got), "schema %s is stale; run PHANTOM_UPDATE_SCHEMAS=1 go test ./schemas/", d.Path)
	}
	if update {
		return
	}
	// Nothing committed that no type describes.
	require.NoError(t, fs.WalkDir(schemas.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		require.NoError(t, err)
		if !e.IsDir() {
			require.True(t, want[p], "schema %s describes no type", p)
		}
		return nil
	}))
}

func compile(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	raw, err := fs.ReadFile(schemas.FS(), path)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	require.NoError(t, c.AddResource(schemas.BaseURI+path, doc))
	s, err := c.Compile(schemas.BaseURI + path)
	require.NoError(t, err)
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, v any) error {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	return s.Validate(inst)
}

func TestPayloadsValidateAgainstTheirSchemas(t *testing.T) {
	prio := 3
	deadline := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exit := 2
	cases := map[string]any{
		"events/run.requested.json":    events.RunRequested{RunID: "01J", Spec: runs.Spec{Agent: "fake", Prompt: "hi", Workspace: "/w", Priority: &prio}},
		"events/run.failed.json":       events.RunFailed{RunID: "01J", Attempt: 1, Reason: runs.ReasonAgentError, Message: "exit 2", ExitCode: &exit},
		"events/run.chunk.stdout.json": events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "01J", Attempt: 1, Seq: 1, Data: "x\n", Lines: 1}},
		"events/run.dispatched.json":   events.RunDispatched{RunID: "01J", Attempt: 1, Pool: "default", Provider: "fake", Deadline: &deadline},
		"commands/dispatch.run.json":   commands.Dispatch{RunID: "01J", Attempt: 1, Pool: "default", Spec: runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}},
	}
	for path, v := range cases {
		require.NoError(t, validate(t, compile(t, path), v), path)
	}
	// A payload missing a required field does not validate.
	require.Error(t, validate(t, compile(t, "events/run.failed.json"), map[string]any{"runId": "01J"}))
	// A newer producer's extra field does.
	require.NoError(t, validate(t, compile(t, "events/run.archived.json"), map[string]any{"runId": "01J", "future": true}))
}
