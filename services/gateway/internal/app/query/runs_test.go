package query

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCursorRoundTripsAndRefusesForeignValues(t *testing.T) {
	t.Parallel()
	id := "01JABCDEF0123456789ABCDEFG"
	got, err := decodeCursor(encodeCursor(id))
	require.NoError(t, err)
	require.Equal(t, id, got)
	for _, c := range []string{"", "!!", "cjE6", "eDE6YWJj" /* x1:abc */} {
		_, err := decodeCursor(c)
		require.Error(t, err, c)
	}
}

func TestStatusesAreTheRunStates(t *testing.T) {
	t.Parallel()
	require.Len(t, Statuses(), 12)
	require.True(t, KnownStatus("retry_scheduled"))
	require.False(t, KnownStatus("timed_out"))
}
