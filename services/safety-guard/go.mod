module github.com/phantom-run/phantom/services/safety-guard

go 1.26.0

require mvdan.cc/sh/v3 v3.14.1

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace github.com/phantom-run/phantom/contracts => ../../contracts

replace github.com/phantom-run/phantom/pkg => ../../pkg
