package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// clip shortens a command for a failure message; some corpus commands are
// hundreds of kilobytes long.
func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// tally counts agreement with upstream for one file and mode.
type tally struct {
	total, agree, stricter, looser int
}

// reviewedKey identifies a corpus case in the reviewed list.
type reviewedKey struct {
	file string
	line int
}

// reviewedRowRe matches a row of the reviewed deviations table in
// docs/safety-guard.md: | corpus | line | mode | stricter/looser | `command` | reason |.
var reviewedRowRe = regexp.MustCompile(`^\|\s*(v0\.9|v2)\s*\|\s*(\d+)\s*\|\s*([a-z_+]+)\s*\|\s*(stricter|looser)\s*\|.*\|\s*\S.*\|\s*$`)

// loadReviewed reads the reviewed list of cases where Phantom deliberately
// decides differently from upstream. The list lives in the documentation so
// that every entry carries a reason a reviewer can read; the value is the
// direction ("stricter" or "looser").
func loadReviewed(t *testing.T) map[reviewedKey]string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "docs", "safety-guard.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("could not read the reviewed list in %s: %v", path, err)
	}
	out := map[reviewedKey]string{}
	for _, line := range strings.Split(string(data), "\n") {
		m := reviewedRowRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		file := "safety-net-v0.9.jsonl"
		if m[1] == "v2" {
			file = "safety-net-v2.jsonl"
		}
		key := reviewedKey{file, n}
		if _, dup := out[key]; dup {
			t.Errorf("reviewed list names %s:%d twice", file, n)
		}
		out[key] = m[4]
	}
	if len(out) == 0 {
		t.Fatalf("no reviewed rows found in %s", path)
	}
	return out
}

// TestConformance replays the upstream corpora and holds Phantom to the bar:
// all of v0.9 and at least 95% of v2's default-mode cases agree, Phantom never
// allows what upstream blocks in default mode, and every case where Phantom is
// stricter is in the reviewed list of docs/safety-guard.md.
func TestConformance(t *testing.T) {
	dir := conformanceDir(t)
	w := newWorld(t)
	reviewed := loadReviewed(t)
	// Timing is not what this test measures, and the race detector slows the
	// engine down; the fuzz test and benchmark hold the 10 ms bound.
	timeout := 5 * time.Second
	if v := os.Getenv("PHANTOM_CONFORMANCE_TIMEOUT"); v != "" {
		// For measuring agreement under the production budget.
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("could not parse PHANTOM_CONFORMANCE_TIMEOUT %q: %v (a Go duration such as 10ms)", v, err)
		}
		timeout = d
	}
	eng := policy.New(policy.WithTimeout(timeout))
	used := map[reviewedKey]bool{}
	var report []string
	for _, file := range []string{"safety-net-v0.9.jsonl", "safety-net-v2.jsonl"} {
		cases := loadCorpus(t, dir, file)
		byMode := map[string]*tally{}
		var modes []string
		var unexplained []string
		for _, c := range cases {
			tl := byMode[c.Mode]
			if tl == nil {
				tl = &tally{}
				byMode[c.Mode] = tl
				modes = append(modes, c.Mode)
			}
			tl.total++
			req, err := w.request(c)
			if err != nil {
				t.Errorf("%s:%d: could not build request: %v", file, c.Line, err)
				continue
			}
			d := eng.Check(context.Background(), req)
			if d.Rule == guard.RuleEngineInternal {
				t.Errorf("%s:%d: internal error: %s", file, c.Line, d.Reason)
			}
			key := reviewedKey{file, c.Line}
			switch {
			case d.Decision == c.Expect:
				tl.agree++
				if reviewed[key] != "" {
					unexplained = append(unexplained, fmt.Sprintf("%s:%d is in the reviewed list but now agrees with upstream; remove it", file, c.Line))
				}
			case d.Decision == guard.Block:
				tl.stricter++
				if reviewed[key] == "stricter" {
					used[key] = true
				} else {
					unexplained = append(unexplained, fmt.Sprintf("%s:%d [%s] stricter than upstream and not reviewed: %q -> %s (%s)", file, c.Line, c.Mode, clip(c.Cmd), d.Rule, clip(d.Reason)))
				}
			default:
				tl.looser++
				switch {
				case c.Mode == "default":
					// The hard bar: never allow what upstream blocks by default.
					unexplained = append(unexplained, fmt.Sprintf("%s:%d [%s] allowed but upstream blocks: %q", file, c.Line, c.Mode, clip(c.Cmd)))
				case reviewed[key] == "looser":
					used[key] = true
				default:
					unexplained = append(unexplained, fmt.Sprintf("%s:%d [%s] allowed but upstream blocks, not reviewed: %q", file, c.Line, c.Mode, clip(c.Cmd)))
				}
			}
			if d.Decision != c.Expect {
				report = append(report, fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t%q\t%s", file, c.Line, c.Mode, c.Expect, d.Decision, d.Rule, c.Cmd, d.Reason))
			}
		}
		sort.Strings(modes)
		t.Logf("%s", file)
		t.Logf("  %-22s %6s %6s %8s %8s %7s", "mode", "cases", "agree", "stricter", "looser", "agree%")
		var all tally
		for _, m := range modes {
			tl := byMode[m]
			all.total += tl.total
			all.agree += tl.agree
			all.stricter += tl.stricter
			all.looser += tl.looser
			t.Logf("  %-22s %6d %6d %8d %8d %6.2f%%", m, tl.total, tl.agree, tl.stricter, tl.looser, 100*float64(tl.agree)/float64(tl.total))
		}
		t.Logf("  %-22s %6d %6d %8d %8d %6.2f%%", "all", all.total, all.agree, all.stricter, all.looser, 100*float64(all.agree)/float64(all.total))
		if file == "safety-net-v2.jsonl" {
			def := byMode["default"]
			if def == nil || float64(def.agree) < 0.95*float64(def.total) {
				t.Errorf("v2 default-mode agreement below 95%%: %+v", def)
			}
		}
		for _, u := range unexplained {
			t.Error(u)
		}
	}
	for k := range reviewed {
		if !used[k] {
			t.Errorf("reviewed list entry %s:%d does not match a stricter decision any more; remove it", k.file, k.line)
		}
	}
	if p := os.Getenv("PHANTOM_CONFORMANCE_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(strings.Join(report, "\n")+"\n"), 0o644); err != nil {
			t.Errorf("could not write report: %v", err)
		}
	}
}
