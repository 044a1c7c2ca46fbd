package rawtext_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

type fakeContext struct {
	off   bool
	steps int
}

func (f *fakeContext) Mode() guard.Mode         { return guard.ModeDefault }
func (f *fakeContext) Switched(string) bool     { return false }
func (f *fakeContext) Enabled(string) bool      { return !f.off }
func (f *fakeContext) Aborted() *family.Finding { return nil }
func (f *fakeContext) Step(string) bool         { f.steps++; return true }
func (f *fakeContext) Block(id, reason, seg string) *family.Finding {
	return &family.Finding{Rule: id, Reason: reason, Segment: seg}
}

func TestScanFindsDestructiveCommandsInTextItCannotParse(t *testing.T) {
	t.Parallel()
	ctx := &fakeContext{}
	for text, what := range map[string]string{
		`echo "unclosed; rm -rf /`:           "rm -rf",
		"x && git reset --hard HEAD~1 'oops": "git reset",
		"find . -name '*.o' -delete (":       "find -delete",
		"dd if=/dev/zero of=/dev/sda `":      "dd of=/dev/sda",
	} {
		f := rawtext.Scan(ctx, text, "seg")
		require.NotNil(t, f, text)
		require.Equal(t, guard.RuleRawText, f.Rule)
		require.Contains(t, f.Reason, "("+what+")", text)
	}
	require.Nil(t, rawtext.Scan(ctx, "ls -la 'unclosed", "seg"))
	require.Nil(t, rawtext.Scan(ctx, "dd if=x of=/dev/null", "seg"), "a harmless device")
	require.Positive(t, ctx.steps, "long text is scanned in steps")
	require.Nil(t, rawtext.Scan(&fakeContext{off: true}, "rm -rf /", "seg"), "the rule switched off")
}
