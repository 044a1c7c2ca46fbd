module github.com/phantom-run/phantom/services/scheduler

go 1.26.0
