module github.com/phantom-run/phantom/services/gateway

go 1.26.0
