package boundaries_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// edge is one dependency of a service on another: "import A B" (a package
// of one service imports a package of another, test code included) or
// "require A B" (a service's go.mod requires another service's module).
type edge struct {
	kind, from, to string
}

func (e edge) String() string { return e.kind + " " + e.from + " " + e.to }

// allowlist reads allowlist.txt: each allowed edge and its reason.
func allowlist(t *testing.T) map[edge]string {
	t.Helper()
	f, err := os.Open("allowlist.txt")
	require.NoError(t, err)
	defer f.Close()
	out := map[edge]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		require.GreaterOrEqual(t, len(fields), 4, "allowlist.txt:%d: want `import|require FROM TO why`", n)
		e := edge{fields[0], fields[1], fields[2]}
		require.Contains(t, []string{"import", "require"}, e.kind, "allowlist.txt:%d", n)
		require.NotContains(t, out, e, "allowlist.txt:%d lists %s twice", n, e)
		out[e] = strings.Join(fields[3:], " ")
	}
	require.NoError(t, sc.Err())
	return out
}

// importEdges are the imports between services, test imports included.
func importEdges(packages []pkg) map[edge]bool {
	out := map[edge]bool{}
	for _, p := range packages {
		from := serviceOf(p.ImportPath)
		if from == "" {
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if to := serviceOf(imp); to != "" && to != from {
				out[edge{"import", rel(p.ImportPath), rel(imp)}] = true
			}
		}
	}
	return out
}

// requireEdges are the service modules each service's go.mod requires.
func requireEdges(t *testing.T) map[edge]bool {
	t.Helper()
	w := workspace(t)
	out := map[edge]bool{}
	for name, dir := range w.serviceModules {
		raw, err := goCmd(dir, "mod", "edit", "-json")
		require.NoError(t, err)
		var mod struct {
			Require []struct{ Path string }
		}
		require.NoError(t, json.Unmarshal(raw, &mod))
		for _, r := range mod.Require {
			if to := serviceOf(r.Path); to != "" && to != name {
				out[edge{"require", "services/" + name, rel(r.Path)}] = true
			}
		}
	}
	return out
}

// TestNoServiceLinksAnother: a service imports contracts and pkg, never
// another service, and its module requires no other service's module,
// except the edges allowlist.txt gives with a reason.
func TestNoServiceLinksAnother(t *testing.T) {
	t.Parallel()
	allowed := allowlist(t)
	found := importEdges(workspace(t).packages)
	for e := range requireEdges(t) {
		found[e] = true
	}
	var unlisted, stale []string
	for e := range found {
		if _, ok := allowed[e]; !ok {
			unlisted = append(unlisted, e.String())
		}
	}
	for e := range allowed {
		if !found[e] {
			stale = append(stale, e.String())
		}
	}
	sort.Strings(unlisted)
	sort.Strings(stale)
	assert.Empty(t, unlisted, "a service links another: share it through contracts or pkg (or, if it must be, add the edge to tools/boundaries/allowlist.txt with why)")
	require.Empty(t, stale, "tools/boundaries/allowlist.txt allows edges that no longer exist: remove their lines")
	t.Logf("service -> service edges (allowlist.txt):\n%s", graph(found))
}

// graph summarises edges service -> service, for the log.
func graph(edges map[edge]bool) string {
	pairs := map[string]bool{}
	for e := range edges {
		pairs[fmt.Sprintf("  %-8s %s -> %s", e.kind, serviceOf(modulePrefix+e.from), serviceOf(modulePrefix+e.to))] = true
	}
	var out []string
	for p := range pairs {
		out = append(out, p)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestTheImportRuleCountsTestCode: an import from a test file is an edge
// like any other; imports of contracts, pkg and the service's own packages
// are not edges.
func TestTheImportRuleCountsTestCode(t *testing.T) {
	t.Parallel()
	p := func(path string) string { return modulePrefix + path }
	got := importEdges([]pkg{
		{ImportPath: p("services/a/service"), Imports: []string{p("contracts/events"), p("pkg/bus"), p("services/a/internal/x"), "fmt"}},
		{ImportPath: p("services/a/internal/x"), TestImports: []string{p("services/b/service")}},
		{ImportPath: p("services/b/service"), XTestImports: []string{p("services/c/guard")}},
		{ImportPath: p("cmd/phantom"), Imports: []string{p("services/a/service")}},
	})
	require.Equal(t, map[edge]bool{
		{"import", "services/a/internal/x", "services/b/service"}: true,
		{"import", "services/b/service", "services/c/guard"}:      true,
	}, got)
	// And the workspace's packages were all listed.
	w := workspace(t)
	listed := map[string]bool{}
	for _, pk := range w.packages {
		listed[rel(pk.ImportPath)] = true
	}
	mods, err := filepath.Glob(filepath.Join(w.root, "services", "*", "go.mod"))
	require.NoError(t, err)
	var onDisk, inWork []string
	for _, m := range mods {
		onDisk = append(onDisk, filepath.Base(filepath.Dir(m)))
	}
	for name := range w.serviceModules {
		inWork = append(inWork, name)
	}
	require.ElementsMatch(t, onDisk, inWork, "every service module is in go.work, so the rule sees it")
	for name := range w.serviceModules {
		require.True(t, listed["services/"+name+"/service"], "go list missed %s", name)
	}
}
