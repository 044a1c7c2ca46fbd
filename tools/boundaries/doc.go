// Package boundaries holds the tests that keep the lines between Phantom's
// services where ARCHITECTURE.md draws them; it has no code of its own.
//
//   - Every event type is appended only by the service contracts/events
//     names as its owner (or in its AlsoAppendedBy), and every type has a
//     producer in the code or a plan (events_test.go).
//   - No package of one service imports a package of another, test code
//     included, and no service's go.mod requires another service's module,
//     except the edges written in allowlist.txt, each with its reason
//     (imports_test.go). `make lint` runs these tests; `make test` too.
//
// The tests read the workspace as `go list` and go/parser see it: the
// modules of go.work, the files each build would compile.
package boundaries
