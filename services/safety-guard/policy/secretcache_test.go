package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// TestSecretIndexTTL pins down how stale the credential cache may be: a
// credential path that starts pointing at a file is seen once the entry
// expires, not later.
func TestSecretIndexTTL(t *testing.T) {
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(home, "project")
	if err := os.MkdirAll(filepath.Join(home, ".claude"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(project, "cache.json")
	if err := os.WriteFile(cache, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_000_000, 0)
	e := New(WithTimeout(time.Hour))
	e.now = func() time.Time { return clock }
	check := func() Decision {
		return e.Check(context.Background(), Request{Command: "cat cache.json", Cwd: project, Env: map[string]string{"HOME": home}})
	}
	if d := check(); d.Blocked() {
		t.Fatalf("a plain file is blocked: %+v", d)
	}
	if err := os.Symlink(cache, filepath.Join(home, ".claude", ".credentials.json")); err != nil {
		t.Fatal(err)
	}
	if d := check(); d.Blocked() {
		t.Fatalf("the cache entry was not reused within its lifetime: %+v", d)
	}
	clock = clock.Add(secrets.IndexTTL + time.Millisecond)
	if d := check(); d.Rule != guard.RuleSecretAgentCredential {
		t.Fatalf("after the entry expired, the file a credential path links to is not protected: %+v", d)
	}
}
