package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// repoRoot is where docker-compose.yml, deploy/ and services/ are.
const repoRoot = "../.."

// phantomServices are the six services, each built from services/<name>.
var phantomServices = []string{"gateway", "scheduler", "runner", "worktree", "safety-guard", "projector"}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image         string            `yaml:"image"`
	Command       []string          `yaml:"command"`
	ContainerName string            `yaml:"container_name"`
	Restart       string            `yaml:"restart"`
	Ports         []string          `yaml:"ports"`
	Volumes       []string          `yaml:"volumes"`
	Environment   map[string]string `yaml:"environment"`
	DependsOn     map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Build struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Target     string            `yaml:"target"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(b, &c), "docker-compose.yml parses (anchors and merge keys resolved)")
	return c
}

// volumeAt returns the named volume mounted at target, "" if none.
func volumeAt(s composeService, target string) string {
	for _, v := range s.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if strings.TrimSuffix(dst, ":ro") == target {
			return src
		}
	}
	return ""
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	want := append([]string{"nats", "postgres"}, phantomServices...)
	got := make([]string, 0, len(c.Services))
	for name := range c.Services {
		got = append(got, name)
	}
	require.ElementsMatch(t, want, got)

	nats := c.Services["nats"]
	require.True(t, strings.HasPrefix(nats.Image, "nats:2."), nats.Image)
	require.Contains(t, nats.Command, "-js", "JetStream on")
	sd := nats.Command[slices.Index(nats.Command, "-sd")+1]
	require.NotEmpty(t, volumeAt(nats, sd), "the JetStream store %s is a volume", sd)
	require.NotEmpty(t, nats.Healthcheck.Test)

	pg := c.Services["postgres"]
	require.True(t, strings.HasPrefix(pg.Image, "postgres:16"), pg.Image)
	require.NotEmpty(t, volumeAt(pg, "/var/lib/postgresql/data"))
	require.Contains(t, strings.Join(pg.Healthcheck.Test, " "), "pg_isready")

	for _, name := range phantomServices {
		s := c.Services[name]
		require.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile, name)
		require.Equal(t, ".", s.Build.Context, name)
		require.Equal(t, name, s.Build.Args["SERVICE"], name)
		require.DirExists(t, filepath.Join(repoRoot, "services", name))
		require.Contains(t, strings.Join(s.Healthcheck.Test, " "), "/readyz", "%s is healthy when ready", name)
		require.Contains(t, []string{"always", "unless-stopped", "on-failure"}, s.Restart, name)
		require.Equal(t, "service_healthy", s.DependsOn["nats"].Condition, name)
		require.Equal(t, "service_healthy", s.DependsOn["postgres"].Condition, name)
		require.Equal(t, "nats://nats:4222", s.Environment["PHANTOM_NATS_URL"], name)
		require.Contains(t, s.Environment["PHANTOM_DATABASE_URL"], "@postgres:5432/phantom", name)
		require.Equal(t, ":9090", s.Environment["PHANTOM_OPS_ADDR"], "%s serves /readyz where the health check asks", name)
		if name != "gateway" {
			require.Empty(t, s.Environment["PHANTOM_TOKEN"], "only the gateway holds the API token (%s)", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			require.Contains(t, c.Volumes, src, "%s uses a declared volume", name)
		}
	}

	runner, worktree := c.Services["runner"], c.Services["worktree"]
	require.Empty(t, runner.ContainerName, "a fixed name would forbid --scale runner=N")
	require.Empty(t, runner.Ports, "a published port would forbid --scale runner=N")
	shared := volumeAt(runner, "/var/lib/phantom")
	require.NotEmpty(t, shared)
	require.Equal(t, shared, volumeAt(worktree, "/var/lib/phantom"), "runners and the worktree service share workspaces and worktrees")
	require.Equal(t, "service-git", runner.Build.Target)
	require.Equal(t, "service-git", worktree.Build.Target)
	require.Equal(t, runner.Environment["PHANTOM_HOST"], worktree.Environment["PHANTOM_HOST"])

	gw := c.Services["gateway"]
	require.Contains(t, gw.Ports, "127.0.0.1:7400:7400")
	require.Contains(t, gw.Environment["PHANTOM_TOKEN"], "${PHANTOM_TOKEN:?", "compose refuses to start without a token")
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	require.NoError(t, err)
	from := regexp.MustCompile(`(?m)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)
	stages := map[string]string{} // name -> text of the stage
	var order []string
	matches := from.FindAllSubmatchIndex(b, -1)
	for i, m := range matches {
		end := len(b)
		if i+1 < len(matches) {
			end = matches[i+1][0]
		}
		name := string(b[m[4]:m[5]])
		stages[name] = string(b[m[0]:end])
		order = append(order, name)
	}
	require.Equal(t, []string{"build", "service", "service-git"}, order)

	for _, s := range loadCompose(t).Services {
		if s.Build.Target != "" {
			require.Contains(t, stages, s.Build.Target, "compose builds a stage the Dockerfile has")
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)\s*$`)
	for _, name := range []string{"service", "service-git"} {
		users := user.FindAllStringSubmatch(stages[name], -1)
		require.NotEmpty(t, users, name)
		last := users[len(users)-1][1]
		require.NotContains(t, []string{"root", "0", "0:0"}, last, "%s runs as an unprivileged user", name)
	}
	require.Contains(t, stages["service"], "HEALTHCHECK")
	require.Contains(t, stages["service"], "/readyz")
	require.True(t, strings.HasPrefix(stages["service-git"], "FROM service AS"), "service-git inherits the service image and its health check")
	require.Contains(t, stages["service-git"], "git", "runner and worktree need git")
	require.Contains(t, stages["build"], "CGO_ENABLED=0", "a static binary for the small image")
}
