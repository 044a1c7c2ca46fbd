module github.com/phantom-run/phantom/contracts

go 1.25.0
