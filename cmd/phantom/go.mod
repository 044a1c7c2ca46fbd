module github.com/phantom-run/phantom/cmd/phantom

go 1.26.0

require (
	github.com/phantom-run/phantom/contracts v0.0.0
	github.com/phantom-run/phantom/pkg v0.0.0
	github.com/phantom-run/phantom/services/gateway v0.0.0
	github.com/phantom-run/phantom/services/projector v0.0.0
	github.com/phantom-run/phantom/services/runner v0.0.0
	github.com/phantom-run/phantom/services/safety-guard v0.0.0
	github.com/phantom-run/phantom/services/scheduler v0.0.0
	github.com/phantom-run/phantom/services/worktree v0.0.0
)

replace github.com/phantom-run/phantom/contracts => ../../contracts

replace github.com/phantom-run/phantom/pkg => ../../pkg

replace github.com/phantom-run/phantom/services/gateway => ../../services/gateway

replace github.com/phantom-run/phantom/services/scheduler => ../../services/scheduler

replace github.com/phantom-run/phantom/services/runner => ../../services/runner

replace github.com/phantom-run/phantom/services/safety-guard => ../../services/safety-guard

replace github.com/phantom-run/phantom/services/worktree => ../../services/worktree

replace github.com/phantom-run/phantom/services/projector => ../../services/projector
