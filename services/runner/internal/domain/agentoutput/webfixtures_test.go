package agentoutput

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
)

// The dashboard (web/) renders transcripts from run.semantic events. Its
// tests read the real CLI transcripts of testdata/transcripts and the events
// these parsers make of them, kept as fixtures in web/. This test keeps the
// two in step: it fails when a parser's output or a transcript changes and
// the fixtures were not regenerated (PHANTOM_UPDATE_WEB_FIXTURES=1 writes them).

// webFixtures is where the dashboard keeps its transcript fixtures.
var webFixtures = filepath.Join("..", "..", "..", "..", "..", "web", "src", "test", "fixtures")

// fixtureRunID is the run the fixtures' events belong to.
const fixtureRunID = "01JFIXTURERUN0000000000000"

// codexFixtureModel stands for the model a Codex run names (Codex does not
// print it; the runner tells the parser the run's model).
const codexFixtureModel = "gpt-5-codex"

// semanticFixture is what the dashboard's tests read for one transcript.
type semanticFixture struct {
	Transcript string `json:"transcript"`
	Adapter    string `json:"adapter"`
	// Lines holds, per line of the transcript (from 1), the events the
	// parser returned for it; lines that yield nothing are left out.
	Lines []fixtureLine `json:"lines"`
	// Flush holds what the parser returned at the end of the output.
	Flush []events.RunSemantic `json:"flush"`
	// Ending is how the runner would classify the exit, assuming exit code 1
	// when the agent reported an error and 0 otherwise (reason "" means
	// completed); null when the transcript stops before the agent ended (a
	// CLI that retries forever, stopped from outside).
	Ending *fixtureEnding `json:"ending"`
}

type fixtureLine struct {
	Line   int                  `json:"line"`
	Events []events.RunSemantic `json:"events"`
}

type fixtureEnding struct {
	ExitCode int    `json:"exitCode"`
	Reason   string `json:"reason"`
	Message  string `json:"message"`
	Result   string `json:"result"`
}

// makeFixture parses one transcript as the runner's semantics loop does
// (RunID, Attempt and the agent filled in), without redaction (the
// transcripts hold no secrets) and without the price table (costs the CLI
// does not report stay unset).
func makeFixture(t *testing.T, name string, transcript []byte) semanticFixture {
	t.Helper()
	adapterName, _, _ := strings.Cut(name, "_")
	p := New(adapterName)
	require.NotNil(t, p, "no parser for %s", name)
	if m, ok := p.(interface{ SetModel(string) }); ok && adapterName == "codex" {
		m.SetModel(codexFixtureModel)
	}
	fill := func(evs []events.RunSemantic) []events.RunSemantic {
		for i := range evs {
			evs[i].RunID, evs[i].Attempt = fixtureRunID, 1
			if evs[i].Agent == "" {
				evs[i].Agent = adapterName
			}
		}
		return evs
	}
	f := semanticFixture{Transcript: name, Adapter: adapterName, Lines: []fixtureLine{}, Flush: []events.RunSemantic{}}
	sc := bufio.NewScanner(bytes.NewReader(transcript))
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for n := 1; sc.Scan(); n++ {
		if evs := p.Line(sc.Bytes()); len(evs) > 0 {
			f.Lines = append(f.Lines, fixtureLine{Line: n, Events: fill(evs)})
		}
	}
	require.NoError(t, sc.Err())
	if evs := p.Flush(); len(evs) > 0 {
		f.Flush = fill(evs)
	}
	out := p.Outcome()
	if !out.HasResult {
		return f
	}
	code := 0
	if out.IsError {
		code = 1
	}
	reason, message := Classify(adapterName, code, out, "")
	f.Ending = &fixtureEnding{ExitCode: code, Reason: reason, Message: message, Result: out.Result}
	return f
}

func TestDashboardFixturesMatchTheParsers(t *testing.T) {
	t.Parallel()
	update := os.Getenv("PHANTOM_UPDATE_WEB_FIXTURES") == "1"
	entries, err := os.ReadDir(filepath.Join("testdata", "transcripts"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".ndjson") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	require.NotEmpty(t, names)
	hint := "the dashboard's fixtures are out of date: run PHANTOM_UPDATE_WEB_FIXTURES=1 go test -run TestDashboardFixturesMatchTheParsers " +
		"./services/runner/internal/domain/agentoutput, then npm test in web/"
	for _, name := range names {
		transcript, err := os.ReadFile(filepath.Join("testdata", "transcripts", name))
		require.NoError(t, err)
		data, err := json.MarshalIndent(makeFixture(t, name, transcript), "", "  ")
		require.NoError(t, err)
		data = append(data, '\n')
		base := strings.TrimSuffix(name, ".ndjson")
		files := map[string][]byte{
			filepath.Join(webFixtures, "transcripts", name):      transcript,
			filepath.Join(webFixtures, "semantic", base+".json"): data,
		}
		for path, want := range files {
			if update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, want, 0o644))
				continue
			}
			have, err := os.ReadFile(path)
			require.NoError(t, err, hint)
			require.Equal(t, string(want), string(have), "%s: %s", path, hint)
		}
	}
}
