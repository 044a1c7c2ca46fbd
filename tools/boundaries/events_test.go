package boundaries_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
)

// plannedProducers are the event types that no code appends yet, each with
// the open issue that will. A type here must have no producer (when one
// lands, its line goes), and a type with neither a producer nor a line here
// fails: it is dead contract.
var plannedProducers = map[string]string{
	"run.archived":             "issue 10 (the agent's work): archive removes the worktree and appends it",
	"run.checkpoint_created":   "issue 10 (the agent's work): a checkpoint after every tool call that may write",
	"run.checkpoint_restored":  "issue 10 (the agent's work): restore to a checkpoint",
	"workspace.granted":        "issue 12 (secrets and access): workspace grants",
	"workspace.revoked":        "issue 12 (secrets and access): workspace grants",
	"provider_token.saved":     "issue 12 (secrets and access): provider tokens encrypted at rest",
	"provider_token.cleared":   "issue 12 (secrets and access): provider tokens encrypted at rest",
	"settings.updated":         "issue 13 (the rest of the specification): PATCH /v1/settings",
	"retention_policy.updated": "issue 13 (the rest of the specification): retention policies",
	"conversation.updated":     "issue 13 (the rest of the specification): a thread's state changes",
}

// production is where a service's code builds a payload of an event type.
type production struct {
	service, place string
}

// payloadTypes maps the Go name of each payload type in contracts/events to
// its event type.
func payloadTypes() map[string]string {
	out := map[string]string{}
	for _, s := range events.Specs() {
		out[reflect.TypeOf(s.New()).Elem().Name()] = s.Type
	}
	return out
}

// producers scans the non-test code of every service for the payloads it
// builds: a composite literal of a payload type (T{...} or &T{...}),
// new(T), or a variable declared of type T. A payload must be built before
// it can be appended, so what a service builds bounds what it appends.
// Left out: the zero literal whose only use is to name its type
// (T{}.EventType()), test files, and packages only tests import.
func producers(t *testing.T) map[string][]production {
	t.Helper()
	w := workspace(t)
	types := payloadTypes()
	support := w.testSupport()
	out := map[string][]production{}
	for _, p := range w.packages {
		svc := serviceOf(p.ImportPath)
		if svc == "" || support[p.ImportPath] {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			require.NoError(t, err)
			for _, b := range builds(f, types) {
				pos := fset.Position(b.node.Pos())
				place, _ := filepath.Rel(w.root, pos.Filename)
				out[b.typ] = append(out[b.typ], production{svc, place + ":" + strconv.Itoa(pos.Line)})
			}
		}
	}
	return out
}

// built is one payload built in a file.
type built struct {
	typ  string
	node ast.Node
}

// builds finds the payloads f builds, by the rules of producers.
func builds(f *ast.File, types map[string]string) []built {
	local := eventsImportName(f)
	if local == "" {
		return nil
	}
	payload := func(e ast.Expr) string {
		sel, ok := e.(*ast.SelectorExpr)
		if !ok {
			return ""
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
			return types[sel.Sel.Name]
		}
		return ""
	}
	var out []built
	naming := map[ast.Node]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if cl, ok := n.X.(*ast.CompositeLit); ok && n.Sel.Name == "EventType" && len(cl.Elts) == 0 {
				naming[cl] = true
			}
		case *ast.CompositeLit:
			if typ := payload(n.Type); typ != "" && !naming[n] {
				out = append(out, built{typ, n})
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 {
				if typ := payload(n.Args[0]); typ != "" {
					out = append(out, built{typ, n})
				}
			}
		case *ast.ValueSpec:
			if typ := payload(n.Type); typ != "" {
				out = append(out, built{typ, n})
			}
		}
		return true
	})
	return out
}

// eventsImportName is the name contracts/events has in f, "" if f does not
// import it.
func eventsImportName(f *ast.File) string {
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if path != modulePrefix+"contracts/events" {
			continue
		}
		if im.Name != nil {
			return im.Name.Name
		}
		return "events"
	}
	return ""
}

// table is the producers of every event type, one line each, for messages.
func table(prod map[string][]production) string {
	var b strings.Builder
	for _, s := range events.Specs() {
		var svcs []string
		for _, p := range prod[s.Type] {
			if !slices.Contains(svcs, p.service) {
				svcs = append(svcs, p.service)
			}
		}
		sort.Strings(svcs)
		who := strings.Join(svcs, ", ")
		if who == "" {
			who = "none"
			if why := plannedProducers[s.Type]; why != "" {
				who += " (planned by " + why + ")"
			}
		}
		fmt.Fprintf(&b, "  %-30s owner %-12s produced by %s\n", s.Type, s.Owner, who)
	}
	return b.String()
}

func TestEveryEventTypeIsAppendedOnlyByItsOwner(t *testing.T) {
	t.Parallel()
	prod := producers(t)
	t.Logf("event types and the services whose code builds them:\n%s", table(prod))
	var wrong []string
	for typ, ps := range prod {
		s, _ := events.Lookup(typ)
		for _, p := range ps {
			if !s.AppendedBy(events.Service(p.service)) {
				wrong = append(wrong, fmt.Sprintf("%s builds %s, which %s owns", p.place, typ, s.Owner))
			}
		}
	}
	sort.Strings(wrong)
	require.Empty(t, wrong, "a service builds an event type another service owns: append it from the owner, or change the owner in contracts/events")
}

func TestEveryEventTypeHasAProducerOrAPlan(t *testing.T) {
	t.Parallel()
	prod := producers(t)
	by := func(typ string, svc events.Service) bool {
		for _, p := range prod[typ] {
			if p.service == string(svc) {
				return true
			}
		}
		return false
	}
	for _, s := range events.Specs() {
		if why, planned := plannedProducers[s.Type]; planned {
			require.Empty(t, prod[s.Type], "%s has a producer now (%v): remove it from plannedProducers (%s)", s.Type, prod[s.Type], why)
			continue
		}
		require.True(t, by(s.Type, s.Owner), "no code of its owner %s builds %s, and no open issue plans it: remove the type, or plan it\n%s", s.Owner, s.Type, table(prod))
		for _, also := range s.AlsoAppendedBy {
			require.True(t, by(s.Type, also), "%s names %s in AlsoAppendedBy, but no code of %s builds it", s.Type, also, also)
		}
	}
	for typ := range plannedProducers {
		_, ok := events.Lookup(typ)
		require.True(t, ok, "plannedProducers lists %s, which is not an event type", typ)
	}
}

// TestTheScanSeesEveryWayToBuildAPayload keeps the scan honest: each way a
// payload can be built in a service is found, the naming idiom is not.
func TestTheScanSeesEveryWayToBuildAPayload(t *testing.T) {
	t.Parallel()
	src := `package x
import ev "github.com/phantom-run/phantom/contracts/events"
var _ = ev.RunCompleted{}.EventType()
var a = ev.RunQueued{RunID: "r"}
var b = &ev.RunFailed{}
var c = new(ev.RunStarted)
var d ev.RunPaused
var e = []ev.Payload{&ev.RunResumed{}}
`
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0)
	require.NoError(t, err)
	var found []string
	for _, b := range builds(f, payloadTypes()) {
		found = append(found, b.typ)
	}
	require.Equal(t, []string{"run.queued", "run.failed", "run.started", "run.paused", "run.resumed"}, found)
}
