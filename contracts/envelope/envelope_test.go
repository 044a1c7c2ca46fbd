package envelope_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/envelope"
)

func TestHeaderRoundTrip(t *testing.T) {
	in := envelope.Envelope{
		ID: envelope.NewID(), Type: "run.started", Source: "phantom/runner/h-1", Subject: "R1",
		Time: time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC), TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Extensions: map[string]string{"attempt": "2"}, Data: []byte(`{"runId":"R1"}`),
	}
	h := in.Header()
	require.Equal(t, in.ID, h.Get(nats.MsgIdHdr))
	out, err := envelope.FromHeader(h, in.Data)
	require.NoError(t, err)
	require.Equal(t, in, out)
}

func TestMissingAttributesAreNamed(t *testing.T) {
	h := envelope.Envelope{ID: "x", Type: "t", Source: "s", Time: time.Now()}.Header()
	h.Del("ce-type")
	_, err := envelope.FromHeader(h, nil)
	require.ErrorContains(t, err, "ce-type")
	_, err = envelope.FromHeader(nats.Header{}, nil)
	require.ErrorContains(t, err, "ce-specversion")
}

func TestIDsAreSortableAndUnique(t *testing.T) {
	prev := ""
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := envelope.NewID()
		require.Len(t, id, 26)
		require.False(t, seen[id])
		require.Greater(t, id, prev)
		seen[id], prev = true, id
	}
}
