// Command phantom-fake-agent is Phantom's scripted stand-in for a coding
// agent CLI: it prints Claude Code's stream-json, driven by directives in the
// prompt. See package fakeagent for the directives.
//
//	phantom-fake-agent "hello sleep=1s tool=Bash:echo hi exit=0"
package main

import (
	"os"

	"github.com/phantom-run/phantom/services/runner/fakeagent"
)

func main() { os.Exit(fakeagent.Main(os.Args[1:])) }
