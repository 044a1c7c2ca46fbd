package command

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
	"github.com/phantom-run/phantom/services/runner/internal/domain/harness"
)

// Detector finds the agent CLIs on this machine: whether each is installed,
// its version (`<command> --version`), how well Phantom supports that
// version, its models (the static list, or the CLI's own catalogue where it
// prints one, as `codex debug models` does) and the harness options it
// honours. It keeps the last detection for the runner's attempts.
type Detector struct {
	defs     map[string]*agents.Definition
	probe    Probe
	environ  []string
	selfPath string
	fakeCmd  string
	timeout  time.Duration

	mu   sync.Mutex
	caps map[string]events.AgentCapability
}

// NewDetector returns a detector of the agents of cfg that asks each CLI
// through probe, each question within timeout.
func NewDetector(cfg Config, probe Probe, timeout time.Duration) *Detector {
	return &Detector{defs: cfg.Agents, probe: probe, environ: cfg.Environ, selfPath: cfg.SelfPath,
		fakeCmd: cfg.FakeCommand, timeout: timeout, caps: map[string]events.AgentCapability{}}
}

// Get returns the last detection of an agent.
func (d *Detector) Get(agent string) (events.AgentCapability, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.caps[agent]
	return c, ok
}

// Detect detects every agent (at once, each within the timeout), keeps and
// returns the result sorted by agent.
func (d *Detector) Detect(ctx context.Context) []events.AgentCapability {
	names := agents.Names(d.defs)
	out := make([]events.AgentCapability, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = d.detect(ctx, d.defs[name])
		}()
	}
	wg.Wait()
	d.mu.Lock()
	for _, c := range out {
		d.caps[c.Agent] = c
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}

func (d *Detector) detect(ctx context.Context, def *agents.Definition) events.AgentCapability {
	c := events.AgentCapability{Agent: def.Name, Command: def.Command, Provider: def.Provider, DefaultModel: def.DefaultModel,
		PlanModel: def.PlanModel, Install: def.Install, Models: def.Models}
	if def.SelfExec && d.fakeCmd == "" {
		c.Command, c.Found, c.Support, c.Version = d.selfPath, true, agents.Supported, "builtin"
		c.Options = harness.Options(def.Adapter, "")
		return c
	}
	cmdName := def.Command
	if def.SelfExec {
		cmdName = d.fakeCmd
	}
	c.Options = harness.Options(def.Adapter, "")
	path, err := d.probe.LookPath(cmdName)
	if err != nil {
		c.Support = agents.Missing
		c.Reason = fmt.Sprintf("%s is not installed on this machine; install it with: %s", cmdName, def.Install)
		return c
	}
	c.Found = true
	out, err := d.output(ctx, path, def.VersionArgs)
	if err != nil {
		c.Support = agents.Degraded
		c.Reason = fmt.Sprintf("%s %s failed: %v", cmdName, strings.Join(def.VersionArgs, " "), err)
		return c
	}
	if v, err := def.ParseVersion(out); err != nil {
		c.Support, c.Reason = agents.Degraded, err.Error()
	} else {
		c.Version = v
		c.Support, c.Reason = def.Support(v)
	}
	c.Options = harness.Options(def.Adapter, c.Version)
	if len(def.ModelsCommand) > 0 {
		if models, err := d.models(ctx, path, def.ModelsCommand); err == nil && len(models) > 0 {
			c.Models = models
		}
	}
	return c
}

// output runs the CLI with args and returns what it printed on stdout (or
// stderr when stdout is empty).
func (d *Detector) output(ctx context.Context, path string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	stdout, stderr, err := d.probe.Run(ctx, path, args, d.environ)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, abbreviate([]string{strings.TrimSpace(stderr)})[0])
	}
	if strings.TrimSpace(stdout) == "" {
		return stderr, nil
	}
	return stdout, nil
}

// models reads a model catalogue printed as JSON: {"models":[{"slug"|"id"|"name"}]} or a list.
func (d *Detector) models(ctx context.Context, path string, args []string) ([]string, error) {
	out, err := d.output(ctx, path, args)
	if err != nil {
		return nil, err
	}
	type entry struct {
		Slug string `json:"slug"`
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	var doc struct {
		Models []entry `json:"models"`
		Data   []entry `json:"data"`
	}
	var list []entry
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, fmt.Errorf("the model catalogue is not JSON: %w", err)
		}
	}
	list = append(append(list, doc.Models...), doc.Data...)
	var names []string
	for _, e := range list {
		for _, n := range []string{e.Slug, e.ID, e.Name} {
			if n != "" {
				names = append(names, n)
				break
			}
		}
	}
	return names, nil
}
