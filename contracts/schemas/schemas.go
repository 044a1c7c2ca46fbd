// Package schemas holds the JSON schema of every event payload, command and
// dispatch message, generated from the Go types in contracts and committed
// under events/, commands/ and rpc/ so that tools outside Go (and the
// AsyncAPI document, which references them) can use them. A test fails when a
// committed schema differs from what the types say; regenerate with
//
//	PHANTOM_UPDATE_SCHEMAS=1 go test ./schemas/
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"

	"github.com/invopop/jsonschema"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
)

//go:embed events/*.json commands/*.json rpc/*.json
var files embed.FS

// FS returns the committed schema files (events/<type>.json, commands/<type>.json, rpc/<name>.json).
func FS() fs.FS { return files }

// BaseURI prefixes every schema's $id.
const BaseURI = "https://phantom.run/schemas/"

// Doc is one schema to publish: its path under the schemas directory and the
// Go value it describes.
type Doc struct {
	Path  string
	Title string
	Value any
}

// Docs lists every schema Phantom publishes.
func Docs() []Doc {
	var docs []Doc
	for _, s := range events.Specs() {
		docs = append(docs, Doc{Path: "events/" + s.Type + ".json", Title: s.Type + ": " + s.Doc, Value: s.New()})
	}
	for _, c := range commands.All() {
		docs = append(docs, Doc{Path: "commands/" + c.CommandType() + ".json", Title: c.CommandType(), Value: c})
	}
	docs = append(docs, Doc{Path: "commands/" + commands.DispatchType + ".json", Title: commands.DispatchType, Value: commands.Dispatch{}})
	for name, v := range map[string]any{
		"guard.check.request":      rpc.GuardCheckRequest{},
		"guard.check.reply":        rpc.GuardCheckReply{},
		"worktree.prepare.request": rpc.WorktreePrepareRequest{},
		"worktree.prepare.reply":   rpc.WorktreePrepareReply{},
		"worktree.remove.request":  rpc.WorktreeRemoveRequest{},
		"worktree.remove.reply":    rpc.WorktreeRemoveReply{},
		"scheduler.queue.request":  rpc.SchedulerQueueRequest{},
		"scheduler.queue.reply":    rpc.SchedulerQueueReply{},
	} {
		docs = append(docs, Doc{Path: "rpc/" + name + ".json", Title: name, Value: v})
	}
	return docs
}

// Generate renders the schema of d.
func Generate(d Doc) ([]byte, error) {
	r := &jsonschema.Reflector{
		ExpandedStruct: true,
		// Payloads only ever gain optional fields: consumers must accept unknown ones.
		AllowAdditionalProperties: true,
	}
	v := d.Value
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		v = rv.Elem().Interface()
	}
	s := r.Reflect(v)
	s.ID = jsonschema.ID(BaseURI + d.Path)
	s.Title = d.Title
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("could not render schema %s: %w", d.Path, err)
	}
	return append(out, '\n'), nil
}
