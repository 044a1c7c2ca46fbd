package client

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadSSE(t *testing.T) {
	t.Parallel()
	in := ": keep-alive\r\n\r\n" +
		"id: 7\r\nevent: run_event\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n" +
		"event: other\ndata:x\n\n" +
		"retry: 1000\n\n" +
		"id: 9\ndata: {\"half\":" // cut off: no blank line ends it
	var got []sseMessage
	require.NoError(t, readSSE(strings.NewReader(in), func(m sseMessage) error {
		got = append(got, m)
		return nil
	}))
	require.Equal(t, []sseMessage{
		{id: "7", event: "run_event", data: "{\"a\":\n1}"},
		{event: "other", data: "x"},
	}, got)
}

func TestReadSSEBoundsLines(t *testing.T) {
	t.Parallel()
	long := "data: " + strings.Repeat("x", maxSSELine+10) + "\n\n"
	err := readSSE(strings.NewReader(long), func(sseMessage) error { return nil })
	require.ErrorContains(t, err, "longer than")
}

func TestResolveOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, WriteSettings(SettingsPath(dir), Settings{URL: "http://file:1/", Token: "file-token"}))
	env := map[string]string{"PHANTOM_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }

	s, err := Resolve("", "", getenv)
	require.NoError(t, err)
	require.Equal(t, Settings{URL: "http://file:1", Token: "file-token"}, s)
	env["PHANTOM_URL"], env["PHANTOM_TOKEN"] = "http://env:2", "env-token"
	s, err = Resolve("", "", getenv)
	require.NoError(t, err)
	require.Equal(t, Settings{URL: "http://env:2", Token: "env-token"}, s)
	s, err = Resolve("http://flag:3", "flag-token", getenv)
	require.NoError(t, err)
	require.Equal(t, Settings{URL: "http://flag:3", Token: "flag-token"}, s)

	_, err = New(Settings{URL: "ftp://x", Token: "t"})
	require.ErrorContains(t, err, "must be an http:// or https:// URL")
}
