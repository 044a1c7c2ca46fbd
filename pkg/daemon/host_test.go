package daemon_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/daemon"
)

func TestHostTokenIsASubjectToken(t *testing.T) {
	t.Parallel()
	require.True(t, subjects.ValidToken(daemon.HostToken()))
}
