package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/pkg/config"
	gateway "github.com/phantom-run/phantom/services/gateway/service"
)

// The CLI's default URL is where phantom up, and a gateway on its own,
// listen by default: the address is stated in their tags, and here it is
// held to them.
func TestTheCLIFindsPhantomUpWhereItListensByDefault(t *testing.T) {
	t.Setenv("PHANTOM_HTTP_ADDR", "")
	require.NoError(t, os.Unsetenv("PHANTOM_HTTP_ADDR"))
	var u up.Config
	require.NoError(t, config.Load(&u))
	require.Equal(t, client.DefaultURL, "http://"+u.HTTPAddr)
	var gw gateway.Config
	require.NoError(t, config.Load(&gw))
	require.Equal(t, u.HTTPAddr, gw.HTTPAddr)
}
