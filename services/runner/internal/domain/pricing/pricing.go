// Package pricing is the runner's price table: it estimates the cost of a
// model's token usage when the CLI reports none (Codex, Gemini CLI, Claude
// Code before a turn's result). Prices are USD per million tokens, matched
// by the longest key contained in the model's name, so "sonnet" prices
// claude-sonnet-4-5 and the alias sonnet alike; a key ending in "*" is a
// fallback, tried only when no other key matches. PHANTOM_RUNNER_PRICES_FILE
// (TOML) overrides or adds entries:
//
//	[prices."gpt-5.5"]
//	input = 1.25
//	output = 10
//	cache_read = 0.125
package pricing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/phantom-run/phantom/contracts/events"
)

// Price is USD per million tokens.
type Price struct {
	Input      float64 `toml:"input" json:"input"`
	Output     float64 `toml:"output" json:"output"`
	CacheRead  float64 `toml:"cache_read" json:"cacheRead"`
	CacheWrite float64 `toml:"cache_write" json:"cacheWrite"`
}

// Table prices models.
type Table struct {
	keys   []string
	prices map[string]Price
}

// Default is the built-in table (list prices when this was written; a
// prices file corrects them).
func Default() Table {
	return newTable(map[string]Price{
		"opus":                  {Input: 15, Output: 75, CacheRead: 1.5, CacheWrite: 18.75},
		"sonnet":                {Input: 3, Output: 15, CacheRead: 0.3, CacheWrite: 3.75},
		"haiku":                 {Input: 0.8, Output: 4, CacheRead: 0.08, CacheWrite: 1},
		"claude*":               {Input: 3, Output: 15, CacheRead: 0.3, CacheWrite: 3.75},
		"gpt-5":                 {Input: 1.25, Output: 10, CacheRead: 0.125},
		"gpt-*":                 {Input: 1.25, Output: 10, CacheRead: 0.125},
		"o3":                    {Input: 2, Output: 8, CacheRead: 0.5},
		"gemini-2.5-pro":        {Input: 1.25, Output: 10, CacheRead: 0.31},
		"gemini-2.5-flash":      {Input: 0.3, Output: 2.5, CacheRead: 0.075},
		"flash-lite":            {Input: 0.1, Output: 0.4, CacheRead: 0.025},
		"gemini-2.5-flash-lite": {Input: 0.1, Output: 0.4, CacheRead: 0.025},
		"flash*":                {Input: 0.3, Output: 2.5, CacheRead: 0.075},
		"pro*":                  {Input: 1.25, Output: 10, CacheRead: 0.31},
	})
}

func newTable(m map[string]Price) Table {
	t := Table{prices: m}
	for k := range m {
		t.keys = append(t.keys, k)
	}
	// Fallbacks last, then the longest key first: the most specific wins.
	sort.Slice(t.keys, func(i, j int) bool {
		fi, fj := strings.HasSuffix(t.keys[i], "*"), strings.HasSuffix(t.keys[j], "*")
		if fi != fj {
			return fj
		}
		if len(t.keys[i]) != len(t.keys[j]) {
			return len(t.keys[i]) > len(t.keys[j])
		}
		return t.keys[i] < t.keys[j]
	})
	return t
}

// Load returns the default table changed by a prices document.
func Load(name string, data []byte) (Table, error) {
	d := Default()
	if len(data) == 0 {
		return d, nil
	}
	var f struct {
		Prices map[string]Price `toml:"prices"`
	}
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return Table{}, fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return Table{}, fmt.Errorf("%s: unknown key %s (known: input, output, cache_read, cache_write)", name, und[0])
	}
	m := make(map[string]Price, len(d.prices)+len(f.Prices))
	for k, v := range d.prices {
		m[k] = v
	}
	for k, v := range f.Prices {
		if v.Input < 0 || v.Output < 0 || v.CacheRead < 0 || v.CacheWrite < 0 {
			return Table{}, fmt.Errorf("%s: prices.%s: prices must be 0 or more USD per million tokens", name, k)
		}
		m[strings.ToLower(k)] = v
	}
	return newTable(m), nil
}

// Lookup returns the price of a model.
func (t Table) Lookup(model string) (Price, bool) {
	m := strings.ToLower(model)
	if m == "" {
		return Price{}, false
	}
	for _, k := range t.keys {
		if strings.Contains(m, strings.TrimSuffix(k, "*")) {
			return t.prices[k], true
		}
	}
	return Price{}, false
}

// Cost estimates the cost of a usage; false when the model has no price.
// inputIncludesCached says the CLI counts cached reads within its input
// tokens (OpenAI's convention) rather than beside them (Anthropic's).
func (t Table) Cost(u events.Usage, inputIncludesCached bool) (float64, bool) {
	p, ok := t.Lookup(u.Model)
	if !ok {
		return 0, false
	}
	input := u.InputTokens
	if inputIncludesCached && u.CacheReadTokens <= input {
		input -= u.CacheReadTokens
	}
	c := float64(input)*p.Input + float64(u.OutputTokens+u.ReasoningTokens)*p.Output +
		float64(u.CacheReadTokens)*p.CacheRead + float64(u.CacheCreationTokens)*p.CacheWrite
	return c / 1e6, true
}
