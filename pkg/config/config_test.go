package config_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/config"
)

type Inner struct {
	Level string `envconfig:"LOG_LEVEL" default:"info" desc:"log level"`
}

type settings struct {
	Inner
	Addr    string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:7400" desc:"where the API listens"`
	Timeout time.Duration `envconfig:"TIMEOUT" default:"5s" desc:"how long | to wait"`
	Token   string        `envconfig:"TOKEN" desc:"bearer token"`
}

func TestLoadAppliesDefaultsAndEnvironment(t *testing.T) {
	t.Setenv("PHANTOM_HTTP_ADDR", "0.0.0.0:9")
	var s settings
	require.NoError(t, config.Load(&s))
	require.Equal(t, "0.0.0.0:9", s.Addr)
	require.Equal(t, 5*time.Second, s.Timeout)
	require.Equal(t, "info", s.Level)
}

func TestLoadNamesTheMalformedVariable(t *testing.T) {
	t.Setenv("PHANTOM_TIMEOUT", "soon")
	var s settings
	err := config.Load(&s)
	require.Error(t, err)
	require.Contains(t, err.Error(), "PHANTOM_TIMEOUT")
}

func TestUsageListsEveryVariableWithDefaultAndDescription(t *testing.T) {
	vars, err := config.Vars(&settings{})
	require.NoError(t, err)
	names := map[string]config.Var{}
	for _, v := range vars {
		names[v.Name] = v
	}
	require.Len(t, names, 4)
	require.Equal(t, "127.0.0.1:7400", names["PHANTOM_HTTP_ADDR"].Default)
	require.Equal(t, "where the API listens", names["PHANTOM_HTTP_ADDR"].Description)
	require.Equal(t, "info", names["PHANTOM_LOG_LEVEL"].Default)
	require.Equal(t, "", names["PHANTOM_TOKEN"].Default)

	var b bytes.Buffer
	require.NoError(t, config.Usage(&b, &settings{}))
	require.Contains(t, b.String(), "PHANTOM_TIMEOUT")
	require.Contains(t, b.String(), "how long | to wait")

	b.Reset()
	require.NoError(t, config.Markdown(&b, &settings{}))
	require.Contains(t, b.String(), `how long \| to wait`)
}

func TestWantsHelp(t *testing.T) {
	require.True(t, config.WantsHelp([]string{"--help"}))
	require.True(t, config.WantsHelp([]string{"x", "-h"}))
	require.False(t, config.WantsHelp([]string{"run"}))
}
