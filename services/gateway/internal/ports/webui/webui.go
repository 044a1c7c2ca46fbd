// Package webui holds the dashboard's built assets (web/, built by `make
// web` into dist/), embedded in the gateway's binary so that it serves the
// page from the same origin as the API with nothing else to install.
//
// A binary built without Node embeds only dist/.placeholder: Built then
// reports false, and the gateway can say how to build the dashboard instead
// of serving a blank page.
package webui

import (
	"embed"
	"fmt"
	"io/fs"
)

// dist is the build output; all: keeps the placeholder (a dot file) so that
// the pattern always matches something.
//
//go:embed all:dist
var dist embed.FS

// PlaceholderName is the file that stands for an unbuilt dashboard.
const PlaceholderName = ".placeholder"

// Assets returns the built dashboard: index.html at its root, hashed assets
// under assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path; "dist" is valid.
		panic(fmt.Sprintf("webui: %v", err))
	}
	return sub
}

// Built reports whether assets hold a built dashboard (an index.html).
func Built(assets fs.FS) bool {
	_, err := fs.Stat(assets, "index.html")
	return err == nil
}
