package policy

import (
	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

const (
	reasonUnquotedHeredoc    = "Unquoted heredoc input is not supported safely in strict mode: its body is expanded by the shell. Quote the delimiter (<<'EOF') or ask the user to verify."
	reasonUnsupportedHeredoc = "This heredoc form or stdin consumer is not supported safely in strict mode. Use one quoted heredoc with a data consumer (cat, tee, git apply, git commit, gh pr create, gh issue create), or ask the user to verify."
)

// strictHeredocs applies strict mode's heredoc policy to a parsed script:
// a heredoc is accepted only in its plainest form, a quoted body fed to a
// command that stores or prints it. Everything else is refused rather than
// judged, because a heredoc body is code as soon as its consumer runs it.
func (r *run) strictHeredocs(file *syntax.File, src string) *family.Finding {
	var found *family.Finding
	var stack []syntax.Node
	syntax.Walk(file, func(n syntax.Node) bool {
		if found != nil || !r.Enabled(guard.RuleStrictHeredoc) {
			return false
		}
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		if st, ok := n.(*syntax.Stmt); ok {
			if reason := heredocProblem(st, stack); reason != "" {
				seg := src
				if start, end := int(st.Pos().Offset()), int(st.End().Offset()); start < end && end <= len(src) {
					seg = src[start:end]
				}
				found = r.Block(guard.RuleStrictHeredoc, reason, seg)
				return false
			}
		}
		stack = append(stack, n)
		return true
	})
	return found
}

// heredocProblem returns why strict mode refuses the heredocs of st, or "".
func heredocProblem(st *syntax.Stmt, ancestors []syntax.Node) string {
	var doc *syntax.Redirect
	count := 0
	for _, rd := range st.Redirs {
		if rd.Op == syntax.Hdoc || rd.Op == syntax.DashHdoc {
			doc = rd
			count++
		}
	}
	if count == 0 {
		return ""
	}
	if count > 1 {
		return reasonUnsupportedHeredoc
	}
outer:
	for i := len(ancestors) - 1; i >= 0; i-- {
		switch ancestors[i].(type) {
		case *syntax.CmdSubst:
			// $(cat <<'EOF' ...) is an ordinary command in a substitution.
			break outer
		case *syntax.FuncDecl, *syntax.Block, *syntax.Subshell, *syntax.ProcSubst:
			return reasonUnsupportedHeredoc
		}
	}
	if !heredocQuoted(doc.Word) {
		return reasonUnquotedHeredoc
	}
	if doc.N != nil && doc.N.Value != "0" {
		return reasonUnsupportedHeredoc
	}
	outProc := false
	for _, rd := range st.Redirs {
		if rd == doc {
			continue
		}
		switch rd.Op {
		case syntax.RdrIn, syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc, syntax.DplIn, syntax.RdrInOut:
			return reasonUnsupportedHeredoc
		}
		outProc = outProc || hasOutputProcSubst(rd.Word)
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 {
		return reasonUnsupportedHeredoc
	}
	word := func(i int) string {
		if i >= len(call.Args) {
			return ""
		}
		return bareLiteral(call.Args[i])
	}
	switch word(0) {
	case "cat":
		if !outProc {
			return ""
		}
	case "tee":
		for _, a := range call.Args[1:] {
			outProc = outProc || hasOutputProcSubst(a)
		}
		if !outProc {
			return ""
		}
	case "git":
		// Message sinks store stdin as data; git apply's patch is data too
		// (its paths are checked by the secret rules).
		if w := word(1); w == "apply" || w == "commit" {
			return ""
		}
	case "gh":
		if w := word(1); (w == "pr" || w == "issue") && word(2) == "create" {
			return ""
		}
	}
	return reasonUnsupportedHeredoc
}

// bareLiteral returns the text of an unquoted, unexpanded word, or "".
func bareLiteral(w *syntax.Word) string {
	if w == nil || len(w.Parts) != 1 {
		return ""
	}
	if l, ok := w.Parts[0].(*syntax.Lit); ok {
		return l.Value
	}
	return ""
}

func hasOutputProcSubst(w *syntax.Word) bool {
	if w == nil {
		return false
	}
	for _, p := range w.Parts {
		if ps, ok := p.(*syntax.ProcSubst); ok && ps.Op == syntax.CmdOut {
			return true
		}
	}
	return false
}
