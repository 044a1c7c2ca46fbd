// Package contracts is the shared language of Phantom's services: the subjects
// they talk on, the event and command types with their JSON schemas, the
// CloudEvents envelope, the stream configurations and the stable error codes.
//
// Nothing here does I/O. The documents asyncapi.yaml and openapi.yaml beside
// this file describe the same contract for people and for other tools; tests
// keep them in step with the code.
package contracts

import _ "embed"

// AsyncAPI is the AsyncAPI 3 document of every subject and payload.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte

// OpenAPI is the OpenAPI 3.1 document of the gateway's HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
