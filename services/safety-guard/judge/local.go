package judge

import (
	"context"
	"errors"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// Locally is the decision when the service could not be asked (why): in
// strict mode the command is blocked; otherwise the engine judges it in
// process, under the request's own mode and rule files only (the policies
// the service holds are out of reach).
func Locally(ctx context.Context, eng *policy.Engine, req rpc.GuardCheckRequest, why error) rpc.GuardCheckReply {
	preq, names, err := Resolve(req, guard.ModeDefault, nil)
	res := rpc.GuardCheckReply{Mode: preq.Mode.String(), Policies: names}
	switch {
	case err != nil:
		res.Decision, res.Rule, res.Reason = guard.Block, guard.RuleInvalidPolicy, err.Error()
	case preq.Mode.Has(guard.ModeStrict):
		res.Decision, res.Rule = guard.Block, guard.RuleUnavailable
		res.Reason = "The safety guard could not be reached and strict mode fails closed: " + errorText(why)
	default:
		d := eng.Check(ctx, preq)
		res.Decision, res.Rule, res.Segment, res.Reason = d.Decision, d.Rule, d.Segment, d.Reason
	}
	return res
}

func errorText(err error) string {
	if err == nil {
		return "no answer"
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "it did not answer in time"
	}
	return err.Error()
}
