//go:build race

package command_test

// raceEnabled: the race detector makes the simulation about six times
// slower, so `make test` (always -race) checks fewer dispatches per seed;
// `go test -run TestSimulation` without -race checks the full 100,000.
const raceEnabled = true
