package boundaries_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// modulePrefix starts the import path of every package of the repository.
const modulePrefix = "github.com/phantom-run/phantom/"

// pkg is what `go list` says of one package.
type pkg struct {
	ImportPath   string
	Name         string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// rel is a repository path without the module prefix, e.g. services/runner/service.
func rel(importPath string) string { return strings.TrimPrefix(importPath, modulePrefix) }

// serviceOf returns the service a package belongs to ("" outside services/).
func serviceOf(importPath string) string {
	rest, ok := strings.CutPrefix(rel(importPath), "services/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

type workspaceInfo struct {
	root     string
	packages []pkg
	// serviceModules maps each service name to its module directory.
	serviceModules map[string]string
	err            error
}

var (
	loadOnce sync.Once
	loaded   workspaceInfo
)

// workspace lists every package of every module of go.work, once per test
// binary.
func workspace(t *testing.T) workspaceInfo {
	t.Helper()
	loadOnce.Do(func() { loaded = loadWorkspace() })
	require.NoError(t, loaded.err)
	return loaded
}

func loadWorkspace() workspaceInfo {
	var w workspaceInfo
	out, err := goCmd("", "env", "GOWORK")
	if err != nil {
		w.err = err
		return w
	}
	gowork := strings.TrimSpace(string(out))
	if gowork == "" || gowork == "off" {
		w.err = errors.New("these tests read the whole workspace: run them with go.work (GOWORK is unset)")
		return w
	}
	w.root = filepath.Dir(gowork)
	out, err = goCmd(w.root, "list", "-m", "-f", "{{.Path}} {{.Dir}}")
	if err != nil {
		w.err = err
		return w
	}
	w.serviceModules = map[string]string{}
	var patterns []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, _ := strings.Cut(line, " ")
		patterns = append(patterns, dir+"/...")
		if s := serviceOf(path); s != "" && rel(path) == "services/"+s {
			w.serviceModules[s] = dir
		}
	}
	args := append([]string{"list", "-e", "-json=ImportPath,Name,Dir,GoFiles,Imports,TestImports,XTestImports"}, patterns...)
	out, err = goCmd(w.root, args...)
	if err != nil {
		w.err = err
		return w
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			w.err = err
			return w
		}
		w.packages = append(w.packages, p)
	}
	return w
}

func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New("go " + strings.Join(args, " ") + ": " + err.Error() + ": " + stderr.String())
	}
	return out, nil
}

// testSupport reports the packages that only test code imports (helpers
// such as a projector's projtest): what they build is never appended by a
// running service.
func (w workspaceInfo) testSupport() map[string]bool {
	importedByCode := map[string]bool{}
	for _, p := range w.packages {
		for _, i := range p.Imports {
			importedByCode[i] = true
		}
	}
	out := map[string]bool{}
	for _, p := range w.packages {
		if p.Name != "main" && !importedByCode[p.ImportPath] {
			out[p.ImportPath] = true
		}
	}
	return out
}
