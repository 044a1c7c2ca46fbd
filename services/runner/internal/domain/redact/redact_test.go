package redact

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Corpus are fake secrets in the formats the redactor must catch.
var Corpus = []string{
	"sk-ant-api03-Xk2f9QmZr7LpT4vB8nW1cY6dH3jK0sA5eU9iO2pG7qR4tV",
	"sk-proj-4fGh7Jk2Lm9Np3Qr6St8Uv1Wx5Yz0Ab4Cd7Ef",
	"sk-9dF3kL7mN2pQ5rS8tU1vW4xY6zA0bC3dE5fG",
	"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
	"glpat-x9Yz8WvU7tS6rQ5pO4nM",
	"xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
	"AKIAIOSFODNN7EXAMPLE",
	"AIzaSyD3xMpL9vQ2rT7uW1yZ4aB6cE8fH0jK5nP",
	"hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
	"Zx8Kq2Lp9Vm4Nt7Rb3Wc6Yd1Hf5Jg0Ts8Ue2Io",
}

func TestKnownFormatsAreRedacted(t *testing.T) {
	r := New()
	for _, secret := range Corpus {
		for _, text := range []string{secret, "key " + secret + " end", `{"k":"` + secret + `"}`, "x=" + secret + "\n", `{"k":"a\n` + secret + `\t"}`, `"\u0022` + secret + `"`} {
			out := r.String(text)
			require.NotContains(t, out, secret, text)
			require.Contains(t, out, Mask)
		}
	}
}

func TestNamedValuesAndExactValues(t *testing.T) {
	r := New("hunter2-correct-horse")
	for text, gone := range map[string]string{
		"password=hunter2xyz":                       "hunter2xyz",
		"API_KEY=abcdefgh12":                        "abcdefgh12",
		`"client_secret": "s3cr3tvalue"`:            "s3cr3tvalue",
		"Authorization: Bearer abcdefghijklmnop":    "abcdefghijklmnop",
		"my pass is hunter2-correct-horse, keep it": "hunter2-correct-horse",
		"token: plainword12":                        "plainword12",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter": "MIIEow",
	} {
		out := r.String(text)
		require.NotContains(t, out, gone, text)
	}
	require.Equal(t, "after", strings.TrimPrefix(r.String("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter"), Mask+"\n"))
}

func TestOrdinaryTextIsKept(t *testing.T) {
	r := New()
	for _, text := range []string{
		"cfce1256-5ceb-4425-b0ed-18cf7759f13f",
		"01J9ZX4K2M3N4P5Q6R7S8T9V0W",
		"commit 4d2ee72a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e",
		"/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js",
		"the quick brown fox jumps over the lazy dog",
		`{"type":"assistant","message":{"id":"msg_fake_4618f1cc0b304d66b52d"}}`,
		"toolu_c265ff4030e245c9bd954396",
		"run_shell_command__run_shell_command_1795258731197_0",
		"description: Run requested command",
		"github.com/phantom-run/phantom/services/runner/internal/domain/redact",
		"/tmp/TestRawOutputArrivesExactly2750616821/003",
		"BenchmarkAppendVsBareAsyncWithRedaction20260101",
	} {
		require.Equal(t, text, r.String(text))
	}
}

func TestSecretEnv(t *testing.T) {
	got := SecretEnv([]string{"ANTHROPIC_API_KEY=sk-1", "PATH=/bin", "GITHUB_TOKEN=t", "HOME=/root", "DB_PASSWORD=x"})
	require.Equal(t, []string{"sk-1", "t", "x"}, got)
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil), New("super-secret-value")))
	log.With("argv", []string{"claude", "--key", Corpus[0]}).Info("spawned with super-secret-value", "line", "x "+Corpus[3], slog.Group("g", "v", Corpus[7]))
	out := buf.String()
	for _, s := range []string{"super-secret-value", Corpus[0], Corpus[3], Corpus[7]} {
		require.NotContains(t, out, s)
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range Corpus {
		f.Add("a " + s + " b")
	}
	f.Add("-----BEGIN PRIVATE KEY-----\nabc")
	r := New("exactsecret123")
	f.Fuzz(func(t *testing.T, s string) {
		out := r.String(s)
		if strings.Contains(s, "exactsecret123") && strings.Contains(out, "exactsecret123") {
			t.Fatalf("exact value kept in %q", out)
		}
	})
}

func BenchmarkRedact(b *testing.B) {
	line := strings.Repeat(`{"type":"assistant","message":{"id":"msg_01","content":[{"type":"text","text":"Here is the output of ls -la /usr/local/lib"}]}}`+"\n", 256)
	r := New("one-secret-value-here")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = r.String(line)
	}
}

func BenchmarkRedactRawText(b *testing.B) {
	line := strings.Repeat(strings.Repeat("x", 99)+"\n", 330)
	r := New()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = r.String(line)
	}
}

func TestTokenTail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		"":                           0,
		"no word at the end ":        0,
		"key is sk-ant-api03-Xk2f9":  18,
		`{"x":"ghp_abc`:              7,
		"whole":                      5,
		"line\nAPI_KEY=abc":          11,
		strings.Repeat("A", 8<<10):   8 << 10,
		strings.Repeat("A", 8<<10+1): 0,
	} {
		require.Equal(t, want, TokenTail([]byte(in)), "%.40q", in)
	}
}
