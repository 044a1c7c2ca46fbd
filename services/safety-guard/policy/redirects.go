package policy

import (
	"path/filepath"
	"strings"

	"mvdan.cc/sh/v3/syntax"
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
func (r *run) redirectStdin(st *syntax.Stmt, sc *scope) *stdinInfo {
	var in *stdinInfo
	for _, rd := range st.Redirs {
		if rd.N != nil && rd.N.Value != "0" {
			continue
		}
		switch rd.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			info := &stdinInfo{kind: stdinHeredoc, quoted: heredocQuoted(rd.Word)}
			if rd.Hdoc != nil {
				f, fnd := r.evalString(rd.Hdoc, sc.clone(), evalHeredoc)
				if fnd == nil {
					info.text, info.known = f.val, f.static
					if !info.known {
						info.text = f.val
					}
				}
			} else {
				info.known = true
			}
			in = info
		case syntax.WordHdoc:
			f, fnd := r.evalString(rd.Word, sc.clone(), evalQuoted)
			info := &stdinInfo{kind: stdinHereString, quoted: true}
			if fnd == nil {
				info.text, info.known = f.val+"\n", f.static
			}
			in = info
		case syntax.RdrIn:
			info := &stdinInfo{kind: stdinFile}
			if f, fnd := r.evalString(rd.Word, sc.clone(), evalAssign); fnd == nil && f.static {
				if wf := r.writtenFile(sc.cwd, f.val); wf != nil && wf.known {
					info.text, info.known = wf.content, true
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
func (r *run) walkRedirects(st *syntax.Stmt, sc *scope, cc *cmdCall, in *stdinInfo) *finding {
	base := ""
	if cc != nil && len(cc.args) > 0 {
		base = commandBase(cc.args[0].val)
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
				if f := r.secretWord(sc, cc, rd.Word.Lit(), seg); f != nil {
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
				if f := r.secretField(sc, cc, fv, seg); f != nil {
					return f
				}
			}
			continue
		}
		fv, f := r.evalString(rd.Word, sc, evalAssign)
		if f != nil {
			return f
		}
		if (rd.Op == syntax.DplIn || rd.Op == syntax.DplOut) && (isDigits(fv.val) || fv.val == "-") {
			continue
		}
		if fv.proc != nil {
			// cmd > >(consumer): the consumer reads what the command prints.
			if cc != nil && isWriteRedirect(rd.Op) {
				if text, ok := staticOutput(cc.args, cc.stdin); ok {
					if f := r.feedProcSubst(fv.proc, sc, text); f != nil {
						return f
					}
				}
			}
			continue
		}
		if f := r.secretField(sc, cc, fv, seg); f != nil {
			return f
		}
		if isWriteRedirect(rd.Op) || rd.Op == syntax.DplOut {
			if f := r.protectedWrite(sc.cwd, fv, seg); f != nil {
				return f
			}
			var content *string
			if rd.Op == syntax.RdrOut || rd.Op == syntax.RdrClob {
				if cc != nil && cc.stdin != nil && cc.stdin.known && len(cc.args) == 1 && (base == "cat" || base == "tee") {
					c := cc.stdin.text
					content = &c
				}
			}
			r.noteWriteAt(sc.cwd, fv, content)
		}
	}
	return nil
}

// noteWrite records that the command writes target.
func (r *run) noteWrite(cc *cmdCall, target field, content *string) {
	r.noteWriteAt(cc.cwd, target, content)
}

func (r *run) noteWriteAt(cwd string, target field, content *string) {
	if !target.static || target.val == "" || target.val == "/dev/null" {
		return
	}
	p := target.val
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
	var operands []field
	targetDir := ""
	for i := 1; i < len(cc.args); i++ {
		a := cc.args[i]
		if a.static && (a.val == "-t" || a.val == "--target-directory") && i+1 < len(cc.args) {
			targetDir = cc.args[i+1].val
			i++
			continue
		}
		if strings.HasPrefix(a.val, "-") {
			continue
		}
		operands = append(operands, a)
	}
	if targetDir != "" {
		return
	}
	base := commandBase(cc.args[0].val)
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
	if cc.stdin != nil && cc.stdin.known {
		c := cc.stdin.text
		content = &c
	}
	for _, a := range cc.args[1:] {
		if strings.HasPrefix(a.val, "-") {
			continue
		}
		r.noteWrite(cc, a, content)
	}
}

// feedProcSubst judges an output process substitution again, now that the
// text written into it is known: >(bash) runs it.
func (r *run) feedProcSubst(p *syntax.ProcSubst, sc *scope, text string) *finding {
	if p.Op != syntax.CmdOut {
		return nil
	}
	return r.walkStmtsIn(p.Stmts, sc.clone(), &stdinInfo{kind: stdinPipe, text: text, known: true})
}
