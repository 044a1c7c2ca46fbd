module github.com/phantom-run/phantom/cmd/phantom

go 1.26.0
