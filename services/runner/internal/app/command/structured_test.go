package command

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateOutput(t *testing.T) {
	schema := []byte(`{"type":"object","required":["answer"],"properties":{"answer":{"type":"integer"}}}`)
	out, errs := validateOutput(schema, "Here it is:\n```json\n{\"answer\": 42}\n```")
	require.Empty(t, errs)
	require.JSONEq(t, `{"answer":42}`, string(out))
	_, errs = validateOutput(schema, `{"answer":"no"}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "/answer")
	_, errs = validateOutput(schema, "no json at all")
	require.Equal(t, []string{"the final result holds no JSON document"}, errs)
	_, errs = validateOutput([]byte(`{"type":`), `{}`)
	require.Contains(t, errs[0], "not JSON")
}
