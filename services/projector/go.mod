module github.com/phantom-run/phantom/services/projector

go 1.26.0

require (
	github.com/phantom-run/phantom/contracts v0.0.0
	github.com/phantom-run/phantom/pkg v0.0.0
)

replace github.com/phantom-run/phantom/contracts => ../../contracts

replace github.com/phantom-run/phantom/pkg => ../../pkg
