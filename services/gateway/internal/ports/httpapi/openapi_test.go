package httpapi

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts"
)

// TestOpenAPIListsExactlyTheRegisteredRoutes keeps contracts/openapi.yaml and
// the registered routes in step, operation ids included.
func TestOpenAPIListsExactlyTheRegisteredRoutes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	doc, err := openapi3.NewLoader().LoadFromData(contracts.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(ctx), "contracts/openapi.yaml is not a valid OpenAPI document")
	require.True(t, doc.IsOpenAPI31OrLater(), "the document must be OpenAPI 3.1")

	documented := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op.OperationID
		}
	}
	api, err := New(Deps{Token: "route-listing-token"})
	require.NoError(t, err)
	registered := map[string]string{}
	for _, r := range api.Routes() {
		key := r.Method + " " + r.Pattern
		require.NotContains(t, registered, key, "route registered twice")
		registered[key] = r.OperationID
	}
	require.NotEmpty(t, registered)
	require.Equal(t, keys(registered), keys(documented), "registered routes and contracts/openapi.yaml differ")
	for k, id := range registered {
		require.Equal(t, id, documented[k], "operationId of %s", k)
	}
	// Every authenticated operation must declare 401; public ones must say so.
	for _, r := range api.Routes() {
		op := doc.Paths.Find(r.Pattern).GetOperation(r.Method)
		if r.Public {
			require.NotNil(t, op.Security, "%s %s is public: the document must give it an empty security list", r.Method, r.Pattern)
			continue
		}
		require.NotNil(t, op.Responses.Status(401), "%s %s must document 401", r.Method, r.Pattern)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestRoutesAreUnderV1WithOperationIDs(t *testing.T) {
	t.Parallel()
	api, err := New(Deps{Token: "route-listing-token"})
	require.NoError(t, err)
	for _, r := range api.Routes() {
		require.True(t, strings.HasPrefix(r.Pattern, "/v1/"), r.Pattern)
		require.NotEmpty(t, r.OperationID, r.Pattern)
		require.NotNil(t, r.Handler, r.Pattern)
	}
}
