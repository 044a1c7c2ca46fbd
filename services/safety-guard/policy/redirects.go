package policy

import (
	"path/filepath"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/protect"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

func isWriteRedirect(op syntax.RedirOperator) bool {
	switch op {
	case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.RdrAll, syntax.AppAll, syntax.RdrInOut:
		return true
	}
	return false
}

// heredocQuoted reports whether a heredoc delimiter is quoted, which turns
// off expansion in the body.
func heredocQuoted(w *syntax.Word) bool {
	if w == nil {
		return false
	}
	for _, p := range w.Parts {
		switch x := p.(type) {
		case *syntax.SglQuoted, *syntax.DblQuoted:
			return true
		case *syntax.Lit:
			if strings.Contains(x.Value, "\\") {
				return true
			}
		}
	}
	return false
}

// redirectStdin returns what the statement's own redirections put on stdin.
func (r *run) redirectStdin(st *syntax.Stmt, sc *scope) *family.Stdin {
	var in *family.Stdin
	for _, rd := range st.Redirs {
		if rd.N != nil && rd.N.Value != "0" {
			continue
		}
		switch rd.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			info := &family.Stdin{Kind: family.StdinHeredoc, Quoted: heredocQuoted(rd.Word)}
			if rd.Hdoc != nil {
				f, fnd := r.evalString(rd.Hdoc, sc.clone(), evalHeredoc)
				if fnd == nil {
					info.Text, info.Known = f.Val, f.Static
					if !info.Known {
						info.Text = f.Val
					}
				}
			} else {
				info.Known = true
			}
			in = info
		case syntax.WordHdoc:
			f, fnd := r.evalString(rd.Word, sc.clone(), evalQuoted)
			info := &family.Stdin{Kind: family.StdinHereString, Quoted: true}
			if fnd == nil {
				info.Text, info.Known = f.Val+"\n", f.Static
			}
			in = info
		case syntax.RdrIn:
			info := &family.Stdin{Kind: family.StdinFile}
			if f, fnd := r.evalString(rd.Word, sc.clone(), evalAssign); fnd == nil && f.Static {
				if wf := r.writtenFile(sc.cwd, f.Val); wf != nil && wf.known {
					info.Text, info.Known = wf.content, true
				}
			}
			in = info
		}
	}
	return in
}

// walkRedirects judges the words of a statement's redirections: the
// substitutions in them, secret files read or written, protected files
// written, and records files written with known content.
func (r *run) walkRedirects(st *syntax.Stmt, sc *scope, cc *cmdCall, in *family.Stdin) *family.Finding {
	base := ""
	if cc != nil && len(cc.Args) > 0 {
		base = family.CommandBase(cc.Args[0].Val)
	}
	seg := srcOf(sc, st)
	for _, rd := range st.Redirs {
		switch rd.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			if rd.Hdoc != nil && !heredocQuoted(rd.Word) {
				if _, f := r.evalString(rd.Hdoc, sc, evalHeredoc); f != nil {
					return f
				}
			}
			if base != "echo" && base != "printf" && rd.Word != nil {
				if f := secrets.Field(r, redirectCwd(sc, cc), family.Lit(rd.Word.Lit()), seg); f != nil {
					return f
				}
			}
			continue
		case syntax.WordHdoc:
			fv, f := r.evalString(rd.Word, sc, evalQuoted)
			if f != nil {
				return f
			}
			if base != "echo" && base != "printf" {
				if f := secrets.Field(r, redirectCwd(sc, cc), fv, seg); f != nil {
					return f
				}
			}
			continue
		}
		fv, f := r.evalString(rd.Word, sc, evalAssign)
		if f != nil {
			return f
		}
		if (rd.Op == syntax.DplIn || rd.Op == syntax.DplOut) && (family.IsDigits(fv.Val) || fv.Val == "-") {
			continue
		}
		if fv.Proc != nil {
			// cmd > >(consumer): the consumer reads what the command prints.
			if cc != nil && isWriteRedirect(rd.Op) {
				if text, ok := staticOutput(cc.Args, cc.Stdin); ok {
					if f := r.feedProcSubst(fv.Proc, sc, text); f != nil {
						return f
					}
				}
			}
			continue
		}
		if f := secrets.Field(r, redirectCwd(sc, cc), fv, seg); f != nil {
			return f
		}
		if isWriteRedirect(rd.Op) || rd.Op == syntax.DplOut {
			if f := protect.Write(r, sc.cwd, fv, seg); f != nil {
				return f
			}
			var content *string
			if rd.Op == syntax.RdrOut || rd.Op == syntax.RdrClob {
				if cc != nil && cc.Stdin != nil && cc.Stdin.Known && len(cc.Args) == 1 && (base == "cat" || base == "tee") {
					c := cc.Stdin.Text
					content = &c
				}
			}
			r.noteWriteAt(sc.cwd, fv, content)
		}
	}
	return nil
}

// redirectCwd is the directory a redirection's path is relative to: the
// command's, when the redirection belongs to one.
func redirectCwd(sc *scope, cc *cmdCall) string {
	if cc != nil {
		return cc.Cwd
	}
	return sc.cwd
}

// noteWrite records that the command writes target.
func (r *run) noteWrite(cc *cmdCall, target family.Field, content *string) {
	r.noteWriteAt(cc.Cwd, target, content)
}

func (r *run) noteWriteAt(cwd string, target family.Field, content *string) {
	if !target.Static || target.Val == "" || target.Val == "/dev/null" {
		return
	}
	p := target.Val
	if !filepath.IsAbs(p) {
		if cwd == "" {
			return
		}
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	if r.written == nil {
		r.written = map[string]*writtenFile{}
	}
	if content != nil {
		r.written[p] = &writtenFile{content: *content, known: true}
		return
	}
	r.written[p] = &writtenFile{}
}

// writtenFile returns what the command wrote to path earlier, if anything.
func (r *run) writtenFile(cwd, path string) *writtenFile {
	if r.written == nil {
		return nil
	}
	p := path
	if !filepath.IsAbs(p) {
		if cwd == "" {
			return nil
		}
		p = filepath.Join(cwd, p)
	}
	return r.written[filepath.Clean(p)]
}

// noteWritesFromArgs records the destinations of cp, mv, ln, install, touch...
// as rewritten with unknown content.
func (r *run) noteWritesFromArgs(cc *cmdCall) {
	var operands []family.Field
	targetDir := ""
	for i := 1; i < len(cc.Args); i++ {
		a := cc.Args[i]
		if a.Static && (a.Val == "-t" || a.Val == "--target-directory") && i+1 < len(cc.Args) {
			targetDir = cc.Args[i+1].Val
			i++
			continue
		}
		if strings.HasPrefix(a.Val, "-") {
			continue
		}
		operands = append(operands, a)
	}
	if targetDir != "" {
		return
	}
	base := family.CommandBase(cc.Args[0].Val)
	if base == "touch" || base == "truncate" {
		for _, o := range operands {
			r.noteWrite(cc, o, nil)
		}
		return
	}
	if len(operands) > 0 {
		r.noteWrite(cc, operands[len(operands)-1], nil)
	}
}

func (r *run) noteTee(cc *cmdCall) {
	var content *string
	if cc.Stdin != nil && cc.Stdin.Known {
		c := cc.Stdin.Text
		content = &c
	}
	for _, a := range cc.Args[1:] {
		if strings.HasPrefix(a.Val, "-") {
			continue
		}
		r.noteWrite(cc, a, content)
	}
}

// feedProcSubst judges an output process substitution again, now that the
// text written into it is known: >(bash) runs it.
func (r *run) feedProcSubst(p *syntax.ProcSubst, sc *scope, text string) *family.Finding {
	if p.Op != syntax.CmdOut {
		return nil
	}
	return r.walkStmtsIn(p.Stmts, sc.clone(), &family.Stdin{Kind: family.StdinPipe, Text: text, Known: true})
}
