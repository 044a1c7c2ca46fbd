module github.com/phantom-run/phantom/services/safety-guard

go 1.26.0
