package projections

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Postgres refuses two things Go strings and JSON may hold: the NUL
// character (in text, and as \u0000 in jsonb) and invalid UTF-8. An agent's
// output can contain both, so every value is cleaned on its way in: NUL and
// invalid bytes become U+FFFD. The cleaning is a pure function of the event,
// so a replay stores the same rows.

const replacement = "\uFFFD"

// cleanText returns s fit for a text column.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, replacement), "\x00", replacement)
}

func cleanTextp(s *string) *string {
	if s == nil {
		return nil
	}
	c := cleanText(*s)
	return &c
}

var escapedNUL = []byte(`\u0000`)

// cleanJSON returns data fit for a jsonb column. data is valid JSON (the
// engine decoded it); only the rare document holding a NUL or invalid UTF-8
// is rewritten.
func cleanJSON(data []byte) []byte {
	if utf8.Valid(data) && !bytes.Contains(data, escapedNUL) {
		return data
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.ToValidUTF8(data, []byte(replacement))))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		// Not JSON after all: store it as a JSON string rather than lose it.
		out, _ := json.Marshal(cleanText(string(data)))
		return out
	}
	out, err := json.Marshal(cleanValue(v))
	if err != nil {
		out, _ = json.Marshal(cleanText(string(data)))
	}
	return out
}

func cleanValue(v any) any {
	switch x := v.(type) {
	case string:
		return cleanText(x)
	case []any:
		for i := range x {
			x[i] = cleanValue(x[i])
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[cleanText(k)] = cleanValue(e)
		}
		return out
	}
	return v
}
