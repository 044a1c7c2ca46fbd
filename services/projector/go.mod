module github.com/phantom-run/phantom/services/projector

go 1.26.0
