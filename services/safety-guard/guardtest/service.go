package guardtest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/safety-guard/service"
)

// StartService runs a safety-guard service on nc and js until the test
// ends, and returns once it answers.
func StartService(t testing.TB, nc *nats.Conn, js jetstream.JetStream, cfg service.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.New(ctx, cfg, daemon.Env{Name: "safety-guard", Instance: daemon.NewInstanceID(),
		Logger: testenv.Logger(t), Conn: nc, JS: js, Metrics: prometheus.NewRegistry(), Checks: opshttp.NewChecks()})
	if err != nil {
		cancel()
		t.Fatalf("could not build the safety guard: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the safety guard ended with %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := nc.Request(subjects.GuardCheck, []byte(`{"command":"true"}`), 200*time.Millisecond); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the safety guard did not answer within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
