package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// documents maps each JSON document of the API to its Go type: a schema of
// components/schemas by name, or an operation's inline request body
// ("PUT /v1/x body") or response ("GET /v1/x 200").
var documents = []struct {
	where  string
	goType any
}{
	{"RunSpec", runs.Spec{}},
	{"RunOverrides", runs.Spec{}},
	{"Budget", runs.Budget{}},
	{"Harness", runs.Harness{}},
	{"Submitted", api.Submitted{}},
	{"Run", api.Run{}},
	{"RunPage", api.RunPage{}},
	{"RunEvent", api.RunEvent{}},
	{"RunPolicy", api.RunPolicy{}},
	{"PolicyAudit", api.PolicyAudit{}},
	{"PolicyAuditPage", api.PolicyAuditPage{}},
	{"GuardRule", events.GuardRule{}},
	{"GuardPolicy", events.GuardPolicy{}},
	{"GuardPolicyRecord", api.GuardPolicyRecord{}},
	{"GuardPolicyList", api.GuardPolicyList{}},
	{"SaveGuardPolicy", api.SaveGuardPolicy{}},
	{"SavedGuardPolicy", api.SavedGuardPolicy{}},
	{"Problem", problems.Problem{}},
	{"ControlAccepted", api.ControlAccepted{}},
	{"Capability", api.Capability{}},
	{"Message", api.Message{}},
	{"ToolCall", api.ToolCall{}},
	{"RunUsage", api.RunUsage{}},
	{"Conversation", api.Conversation{}},
	{"ConversationDetail", api.ConversationDetail{}},
	{"QueueJob", rpc.QueueJob{}},
	{"Queue", api.Queue{}},
	{"ProviderState", api.ProviderState{}},
	{"Runner", api.Runner{}},
	{"Profile", api.Profile{}},
	{"SaveProfile", api.SaveProfile{}},
	{"Canceled", api.Canceled{}},
	{"POST /v1/runs/{id}/cancel body", api.CancelRequest{}},
	{"GET /v1/capabilities 200", api.CapabilityList{}},
	{"POST /v1/capabilities/refresh 202", api.RefreshAccepted{}},
	{"GET /v1/runs/{id}/messages 200", api.MessageList{}},
	{"GET /v1/runs/{id}/tool-calls 200", api.ToolCallList{}},
	{"POST /v1/sessions/{id}/input body", api.SessionInput{}},
	{"POST /v1/sessions/{id}/input 202", api.InputAccepted{}},
	{"POST /v1/sessions/{id}/resume body", api.ResumeSession{}},
	{"POST /v1/conversations body", api.NewConversation{}},
	{"GET /v1/conversations 200", api.ConversationList{}},
	{"PATCH /v1/conversations/{id} body", api.RenameConversation{}},
	{"PATCH /v1/conversations/{id} 202", api.ConversationRenamed{}},
	{"POST /v1/conversations/{id}/messages body", api.SendMessage{}},
	{"POST /v1/conversations/{id}/messages 202", api.MessageSent{}},
	{"POST /v1/conversations/{id}/archive 202", api.ConversationArchived{}},
	{"GET /v1/providers 200", api.ProviderList{}},
	{"GET /v1/runners 200", api.RunnerList{}},
	{"GET /v1/profiles 200", api.ProfileList{}},
}

// valueSchemas are schemas of one value (a string, a map), not documents:
// they have no Go struct.
var valueSchemas = []string{"Token", "RunStatus", "GuardScope", "Labels"}

func load(t *testing.T) *openapi3.T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	doc, err := openapi3.NewLoader().LoadFromData(contracts.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(ctx))
	return doc
}

// find returns the schema a documents entry names.
func find(t *testing.T, doc *openapi3.T, where string) *openapi3.Schema {
	t.Helper()
	parts := strings.Fields(where)
	if len(parts) == 1 {
		ref, ok := doc.Components.Schemas[where]
		require.True(t, ok, "components/schemas has no %s", where)
		return ref.Value
	}
	require.Len(t, parts, 3, where)
	item := doc.Paths.Find(parts[1])
	require.NotNil(t, item, "no path %s", parts[1])
	op := item.GetOperation(parts[0])
	require.NotNil(t, op, "no operation %s %s", parts[0], parts[1])
	if parts[2] == "body" {
		require.NotNil(t, op.RequestBody, "%s has no request body", where)
		return jsonSchema(t, op.RequestBody.Value.Content, where)
	}
	resp := op.Responses.Value(parts[2])
	require.NotNil(t, resp, "%s is not documented", where)
	return jsonSchema(t, resp.Value.Content, where)
}

func jsonSchema(t *testing.T, c openapi3.Content, where string) *openapi3.Schema {
	t.Helper()
	mt := c.Get("application/json")
	require.NotNil(t, mt, "%s has no application/json content", where)
	return mt.Schema.Value
}

// TestEveryDocumentHasItsGoType checks each mapped Go type against its
// schema: the same properties both ways (nested objects and array items
// included), required properties always sent, null allowed where Go sends
// it, and the JSON kinds alike.
func TestEveryDocumentHasItsGoType(t *testing.T) {
	t.Parallel()
	doc := load(t)
	for _, d := range documents {
		t.Run(d.where, func(t *testing.T) {
			var faults []string
			compare(find(t, doc, d.where), reflect.TypeOf(d.goType), d.where, &faults)
			require.Empty(t, faults, "contracts/openapi.yaml and the Go type of %s differ", d.where)
		})
	}
}

// TestEveryDocumentIsMapped is the other direction: every schema of the
// document, and every inline JSON body of an operation, has a Go type in
// documents, and every exported struct of contracts/api is one of them.
func TestEveryDocumentIsMapped(t *testing.T) {
	t.Parallel()
	doc := load(t)
	mapped := map[string]bool{}
	goTypes := map[string]bool{}
	for _, d := range documents {
		mapped[d.where] = true
		if ty := reflect.TypeOf(d.goType); ty.PkgPath() == reflect.TypeOf(api.Run{}).PkgPath() {
			goTypes[ty.Name()] = true
		}
	}
	for name := range doc.Components.Schemas {
		require.True(t, mapped[name] || slices.Contains(valueSchemas, name), "schema %s has no Go type in documents", name)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema.Ref == "" {
					key := method + " " + path + " body"
					require.True(t, mapped[key], "the request body of %s %s has no Go type in documents (%q)", method, path, key)
				}
			}
			for status, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				if mt := resp.Value.Content.Get("application/json"); mt != nil && mt.Schema.Ref == "" {
					key := method + " " + path + " " + status
					require.True(t, mapped[key], "the %s answer of %s %s has no Go type in documents (%q)", status, method, path, key)
				}
			}
		}
	}
	files, err := os.ReadDir(".")
	require.NoError(t, err)
	for _, file := range files {
		if !strings.HasSuffix(file.Name(), ".go") || strings.HasSuffix(file.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file.Name(), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				ts := spec.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); isStruct && ts.Name.IsExported() {
					// A struct found only inside documents is checked through them.
					require.True(t, goTypes[ts.Name.Name] || embeddedOnly[ts.Name.Name], "api.%s is in no entry of documents", ts.Name.Name)
				}
			}
		}
	}
}

// embeddedOnly are api structs that appear only inside mapped documents.
var embeddedOnly = map[string]bool{"PolicyScope": true, "ProviderHold": true, "Usage": true, "UsageTotal": true, "ConversationRun": true}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// field is one JSON member of a Go struct.
type field struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

// jsonFields lists the members encoding/json gives t, embedded structs
// flattened.
func jsonFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, field{name: name, omitempty: strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(opts, "omitzero"), typ: f.Type})
	}
	return out
}

// object gathers the properties and required members of a schema, through
// allOf and the non-null branch of a oneOf.
func object(s *openapi3.Schema) (props map[string]*openapi3.Schema, required []string) {
	props = map[string]*openapi3.Schema{}
	var walk func(s *openapi3.Schema)
	walk = func(s *openapi3.Schema) {
		for name, p := range s.Properties {
			props[name] = p.Value
		}
		required = append(required, s.Required...)
		for _, a := range s.AllOf {
			walk(a.Value)
		}
		for _, o := range s.OneOf {
			if !o.Value.Type.Is("null") {
				walk(o.Value)
			}
		}
	}
	walk(s)
	return props, required
}

// nullable reports whether a schema accepts null.
func nullable(s *openapi3.Schema) bool {
	if s.Type.Includes("null") || s.Nullable {
		return true
	}
	for _, o := range s.OneOf {
		if o.Value.Type.Is("null") {
			return true
		}
	}
	return false
}

// nonNull is the schema a value has when it is not null.
func nonNull(s *openapi3.Schema) *openapi3.Schema {
	for _, o := range s.OneOf {
		if !o.Value.Type.Is("null") {
			return o.Value
		}
	}
	return s
}

func compare(s *openapi3.Schema, t reflect.Type, at string, faults *[]string) {
	fault := func(format string, args ...any) { *faults = append(*faults, at+": "+fmt.Sprintf(format, args...)) }
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s = nonNull(s)
	kind := func(want string) {
		if s.Type != nil && len(s.Type.Slice()) > 0 && !s.Type.Includes(want) {
			fault("Go %s is a JSON %s, the schema says %v", t, want, s.Type.Slice())
		}
	}
	switch {
	case t == rawType:
		return
	case t == timeType:
		kind("string")
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		kind("object")
		props, required := object(s)
		fields := jsonFields(t)
		byName := map[string]field{}
		for _, f := range fields {
			byName[f.name] = f
			p, ok := props[f.name]
			if !ok {
				fault("Go field %q is not in the schema", f.name)
				continue
			}
			if !f.omitempty && (f.typ.Kind() == reflect.Pointer) && !nullable(p) {
				fault("%q may be null in Go (a pointer without omitempty), the schema does not allow null", f.name)
			}
			compare(p, f.typ, at+"."+f.name, faults)
		}
		var missing []string
		for name := range props {
			if _, ok := byName[name]; !ok {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		for _, name := range missing {
			fault("schema property %q has no Go field", name)
		}
		for _, name := range required {
			if f, ok := byName[name]; ok && f.omitempty {
				fault("%q is required by the schema but omitempty in Go", name)
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return
		}
		kind("array")
		if s.Items != nil {
			compare(s.Items.Value, t.Elem(), at+"[]", faults)
		}
	case reflect.Map:
		kind("object")
		if ap := s.AdditionalProperties.Schema; ap != nil {
			compare(ap.Value, t.Elem(), at+"{}", faults)
		}
	case reflect.String:
		kind("string")
	case reflect.Bool:
		kind("boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		kind("integer")
	case reflect.Float32, reflect.Float64:
		if s.Type != nil && len(s.Type.Slice()) > 0 && !s.Type.Includes("number") && !s.Type.Includes("integer") {
			fault("Go %s is a JSON number, the schema says %v", t, s.Type.Slice())
		}
	}
}

// TestTheComparisonFindsDrift proves compare reports each kind of drift.
func TestTheComparisonFindsDrift(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(`openapi: 3.1.0
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    X:
      type: object
      required: [a, c]
      properties:
        a: {type: string}
        b: {type: integer}
        c: {type: integer}
        d: {type: integer}
        n: {type: object, properties: {x: {type: string}}}
`))
	require.NoError(t, err)
	type nested struct {
		Y string `json:"y"`
	}
	type drift struct {
		A string  `json:"a,omitempty"` // required but omitempty
		B string  `json:"b"`           // string against integer
		C *int    `json:"c"`           // may be null, schema says not
		E int     `json:"e"`           // not in the schema (and d has no field)
		N *nested `json:"n,omitempty"` // nested: y not in schema, x has no field
	}
	var faults []string
	compare(doc.Components.Schemas["X"].Value, reflect.TypeOf(drift{}), "X", &faults)
	require.ElementsMatch(t, []string{
		`X: "a" is required by the schema but omitempty in Go`,
		"X.b: Go string is a JSON string, the schema says [integer]",
		`X: "c" may be null in Go (a pointer without omitempty), the schema does not allow null`,
		`X: Go field "e" is not in the schema`,
		`X: schema property "d" has no Go field`,
		`X.n: Go field "y" is not in the schema`,
		`X.n: schema property "x" has no Go field`,
	}, faults)
}
