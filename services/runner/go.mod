module github.com/phantom-run/phantom/services/runner

go 1.26.0
