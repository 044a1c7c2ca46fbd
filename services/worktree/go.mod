module github.com/phantom-run/phantom/services/worktree

go 1.26.0
