package contracts_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phantom-run/phantom/contracts"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/schemas"
	"github.com/phantom-run/phantom/contracts/subjects"
)

type asyncAPIDoc struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address  string                       `yaml:"address"`
		Messages map[string]map[string]string `yaml:"messages"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action  string            `yaml:"action"`
		Channel map[string]string `yaml:"channel"`
	} `yaml:"operations"`
	Components struct {
		Messages map[string]struct {
			Name    string            `yaml:"name"`
			Payload map[string]string `yaml:"payload"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

var braces = regexp.MustCompile(`\{[^}]+\}`)

// codeSubjects lists every subject the code publishes or answers on, with
// "*" for each variable token, keyed to the message name documenting it.
func codeSubjects() map[string][]string {
	out := map[string][]string{}
	for _, s := range events.Specs() {
		out[subjects.Event(s.Aggregate, "*", s.Type)] = []string{s.Type}
	}
	for _, c := range commands.All() {
		out[c.Subject()] = []string{c.CommandType()}
	}
	out[commands.Dispatch{Pool: "*"}.Subject()] = []string{commands.DispatchType}
	out[subjects.GuardCheck] = []string{"guard.check.request", "guard.check.reply"}
	out[rpc.WorktreePrepareSubject("*")] = []string{"worktree.prepare.request", "worktree.prepare.reply"}
	out[rpc.WorktreeRemoveSubject("*")] = []string{"worktree.remove.request", "worktree.remove.reply"}
	out[subjects.SchedulerQueue] = []string{"scheduler.queue.request", "scheduler.queue.reply"}
	return out
}

func TestAsyncAPIDocumentsEverySubjectInCode(t *testing.T) {
	var doc asyncAPIDoc
	require.NoError(t, yaml.Unmarshal(contracts.AsyncAPI, &doc))
	require.Equal(t, "3.0.0", doc.AsyncAPI)

	documented := map[string][]string{}
	for id, ch := range doc.Channels {
		require.NotEmpty(t, ch.Address, "channel %s has no address", id)
		addr := braces.ReplaceAllString(ch.Address, "*")
		var names []string
		for name, ref := range ch.Messages {
			require.Equal(t, "#/components/messages/"+name, ref["$ref"], "channel %s message %s", id, name)
			names = append(names, name)
		}
		documented[addr] = names
	}
	code := codeSubjects()
	for subject, names := range code {
		got, ok := documented[subject]
		require.True(t, ok, "subject %s is in code but not in asyncapi.yaml", subject)
		require.ElementsMatch(t, names, got, "messages of %s", subject)
	}
	for subject := range documented {
		_, ok := code[subject]
		require.True(t, ok, "asyncapi.yaml documents %s, which the code does not have", subject)
	}
}

func TestAsyncAPIReferencesResolve(t *testing.T) {
	var doc asyncAPIDoc
	require.NoError(t, yaml.Unmarshal(contracts.AsyncAPI, &doc))
	for name, m := range doc.Components.Messages {
		require.Equal(t, name, m.Name)
		ref := m.Payload["$ref"]
		path, ok := strings.CutPrefix(ref, "./schemas/")
		require.True(t, ok, "message %s payload must reference a generated schema, got %q", name, ref)
		_, err := fs.Stat(schemas.FS(), path)
		require.NoError(t, err, "message %s payload %s", name, ref)
	}
	for id, op := range doc.Operations {
		require.Contains(t, []string{"send", "receive"}, op.Action, id)
		ch, ok := strings.CutPrefix(op.Channel["$ref"], "#/channels/")
		require.True(t, ok, id)
		_, exists := doc.Channels[ch]
		require.True(t, exists, "operation %s points at missing channel %s", id, ch)
	}
	// Every event type has a message with its schema.
	for _, s := range events.Specs() {
		_, ok := doc.Components.Messages[s.Type]
		require.True(t, ok, "no message for %s", s.Type)
	}
}
