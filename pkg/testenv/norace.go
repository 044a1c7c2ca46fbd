//go:build !race

package testenv

// raceEnabled: this binary has the race detector.
const raceEnabled = false
