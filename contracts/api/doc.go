// Package api holds the wire types of Phantom's HTTP API, the JSON documents
// that contracts/openapi.yaml describes: what the gateway encodes and what
// its clients (the phantom CLI) decode. One Go type per document, so the
// two sides cannot drift apart; a test checks every type against its
// schema in the OpenAPI document, field by field, both ways.
//
// Conventions: a response field the server always sends has no omitempty,
// and a value that may be absent is a pointer sent as null (every document
// of a kind has the same keys); an optional request field has omitempty,
// so a client sends only what it sets.
package api
