package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// validateOutput checks an agent's final result against a JSON Schema. The
// result is the JSON document itself, or holds one in a ```json fence (agents
// like to wrap their answers). It returns the document, or why it does not
// validate.
func validateOutput(schema []byte, result string) ([]byte, []string) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, []string{"the run's output schema is not JSON: " + err.Error()}
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("output-schema.json", doc); err != nil {
		return nil, []string{"the run's output schema is not usable: " + err.Error()}
	}
	sch, err := c.Compile("output-schema.json")
	if err != nil {
		return nil, []string{"the run's output schema does not compile: " + err.Error()}
	}
	raw := extractJSON(result)
	if raw == "" {
		return nil, []string{"the final result holds no JSON document"}
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		return nil, []string{"the final result is not valid JSON: " + err.Error()}
	}
	if err := sch.Validate(v); err != nil {
		var errs []string
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			errs = append(errs, flatten(ve)...)
		}
		if len(errs) == 0 {
			errs = []string{err.Error()}
		}
		return nil, errs
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(raw)); err != nil {
		return nil, []string{fmt.Sprintf("the final result could not be compacted: %v", err)}
	}
	return compact.Bytes(), nil
}

// flatten lists the leaf errors of a validation error, each with its location.
func flatten(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		loc := "/" + strings.Join(ve.InstanceLocation, "/")
		return []string{loc + ": " + ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, flatten(c)...)
	}
	return out
}

// extractJSON returns the JSON document in s: s itself, the content of a
// ```json fence, or the outermost {...} or [...].
func extractJSON(s string) string {
	t := strings.TrimSpace(s)
	if json.Valid([]byte(t)) {
		return t
	}
	if i := strings.Index(t, "```"); i >= 0 {
		rest := t[i+3:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:]
		}
		if j := strings.Index(rest, "```"); j >= 0 {
			if inner := strings.TrimSpace(rest[:j]); json.Valid([]byte(inner)) {
				return inner
			}
		}
	}
	for _, pair := range [][2]byte{{'{', '}'}, {'[', ']'}} {
		i, j := strings.IndexByte(t, pair[0]), strings.LastIndexByte(t, pair[1])
		if i >= 0 && j > i && json.Valid([]byte(t[i:j+1])) {
			return t[i : j+1]
		}
	}
	return ""
}
