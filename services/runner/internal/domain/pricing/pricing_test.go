package pricing

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
)

func TestLookupAndCost(t *testing.T) {
	d := Default()
	p, ok := d.Lookup("claude-opus-4-8")
	require.True(t, ok)
	require.Equal(t, 15.0, p.Input)
	p, _ = d.Lookup("gemini-2.5-flash-lite")
	require.Equal(t, 0.1, p.Input, "the longest key wins")
	_, ok = d.Lookup("mystery-model")
	require.False(t, ok)

	c, ok := d.Cost(events.Usage{Model: "sonnet", InputTokens: 1_000_000, OutputTokens: 1_000_000}, false)
	require.True(t, ok)
	require.InDelta(t, 18.0, c, 1e-9)
	c, _ = d.Cost(events.Usage{Model: "gpt-5.5", InputTokens: 1_000_000, CacheReadTokens: 1_000_000}, true)
	require.InDelta(t, 0.125, c, 1e-9, "cached input priced once, as cached")
}

func TestLoad(t *testing.T) {
	tb, err := Load("prices.toml", []byte("[prices.\"my-model\"]\ninput = 2\noutput = 4\n"))
	require.NoError(t, err)
	c, ok := tb.Cost(events.Usage{Model: "my-model-v1", InputTokens: 500_000, OutputTokens: 250_000}, false)
	require.True(t, ok)
	require.InDelta(t, 2.0, c, 1e-9)
	_, err = Load("prices.toml", []byte("[prices.x]\ninput = -1\n"))
	require.ErrorContains(t, err, "prices.x")
	_, err = Load("prices.toml", []byte("[prices.x]\ninptu = 1\n"))
	require.ErrorContains(t, err, "unknown key")
}
