module github.com/phantom-run/phantom/services/runner

go 1.26.0

require (
	github.com/phantom-run/phantom/contracts v0.0.0
	github.com/phantom-run/phantom/pkg v0.0.0
)

require github.com/stretchr/testify v1.12.1 // indirect

replace github.com/phantom-run/phantom/contracts => ../../contracts

replace github.com/phantom-run/phantom/pkg => ../../pkg
