package redact_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/redact"
	"github.com/phantom-run/phantom/pkg/redact/redacttest"
)

var shapes = redacttest.Samples()

func newRedactor() *redact.Redactor { return redact.New(redacttest.ExactValue) }

// streamed writes text into a stream cut at the given offsets.
func streamed(r *redact.Redactor, hold int, text string, cuts []int) string {
	s := r.NewStream(hold)
	var out []byte
	prev := 0
	for _, c := range cuts {
		out = append(out, s.Write([]byte(text[prev:c]))...)
		prev = c
	}
	out = append(out, s.Write([]byte(text[prev:]))...)
	out = append(out, s.Close()...)
	return string(out)
}

func TestEveryShapeIsRedactedWhole(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	for _, sh := range shapes {
		out := r.String(sh.Text)
		require.Empty(t, redacttest.Leaks(out, []redacttest.Sample{sh}), "%s: %q", sh.Name, out)
		require.Contains(t, out, redact.Mask, sh.Name)
	}
}

func TestEveryShapeSplitAnywhereIsRedactedTheSame(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	for _, sh := range shapes {
		whole := r.String(sh.Text)
		for cut := 1; cut < len(sh.Text); cut++ {
			require.Equal(t, whole, streamed(r, 0, sh.Text, []int{cut}), "%s cut at %d", sh.Name, cut)
		}
	}
}

func TestRandomSplitsGiveTheOutputOfTheWhole(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	var all strings.Builder
	for _, sh := range shapes {
		all.WriteString(sh.Text)
		all.WriteString("\n")
	}
	text := all.String()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, hold := range []int{0, 64, 200} {
		whole := streamed(r, hold, text, nil)
		require.Empty(t, redacttest.Leaks(whole, shapes), "hold %d", hold)
		for round := range 100 {
			var cuts []int
			for c := rng.IntN(20); c < len(text); c += 1 + rng.IntN(120) {
				cuts = append(cuts, c)
			}
			require.Equal(t, whole, streamed(r, hold, text, cuts), "hold %d round %d cuts %v", hold, round, cuts)
		}
	}
}

func TestAKeyPrintedInPiecesIsHeldUntilItsLineEnds(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	key := redacttest.Credentials["aws-key-id"]
	s := r.NewStream(0)
	require.Equal(t, "ready\n", string(s.Write([]byte("ready\nkey: "+key[:8]))), "the line in progress is held")
	require.Equal(t, int64(len("ready\n")), s.Released())
	require.Empty(t, s.Write([]byte(key[8:])), "a pause changes nothing: no newline yet")
	require.Equal(t, "key: "+redact.Mask+"\n", string(s.Write([]byte("\n"))))
}

func TestAKeyAtTheEndOfTheStreamIsRedactedAtClose(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	key := redacttest.Credentials["github-pat"]
	s := r.NewStream(0)
	require.Empty(t, s.Write([]byte("token "+key[:10])))
	require.Empty(t, s.Write([]byte(key[10:])))
	require.Equal(t, "token "+redact.Mask, string(s.Close()))
}

func TestACarriageReturnEndsALine(t *testing.T) {
	t.Parallel()
	s := newRedactor().NewStream(0)
	require.Equal(t, "10%\r", string(s.Write([]byte("10%\r20"))), "a progress bar moves")
	require.Equal(t, "20%\r\n", string(s.Write([]byte("%\r\n"))))
}

func TestAPrivateKeyPrintedLineByLineIsMaskedFromBeginToEnd(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	key := redacttest.PrivateKey()
	s := r.NewStream(0)
	var out []byte
	out = append(out, s.Write([]byte("before\n"))...)
	for _, line := range strings.SplitAfter(key, "\n") {
		out = append(out, s.Write([]byte(line))...)
	}
	out = append(out, s.Write([]byte("after\n"))...)
	require.Equal(t, "before\n"+redact.Mask+"\nafter\n", string(out))
	require.Equal(t, "before\n"+redact.Mask+"\nafter\n", r.String("before\n"+key+"after\n"))
	require.Equal(t, `{"k":"`+redact.Mask+`\n"}`, r.String(`{"k":"`+strings.ReplaceAll(key, "\n", `\n`)+`"}`), "escaped in one JSON string")
}

func TestABeginWithoutEndDropsTheBodyUpToTheFirstLineThatIsNotKey(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	key := redacttest.PrivateKey()
	cut := strings.Index(key, "-----END")
	out := r.String("x\n" + key[:cut] + "error: the file was truncated\nmore\n")
	require.Equal(t, "x\n"+redact.Mask+"\nerror: the file was truncated\nmore\n", out)
	require.Equal(t, redact.Mask+"\n", r.String(key[:cut]), "at the end of the stream")
}

func TestABeginWithoutEndDropsAtMost64KiB(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	line := strings.Repeat("QUJD", 16) + "\n"
	body := strings.Repeat(line, (64<<10)/len(line)+10)
	out := r.String("-----BEGIN PRIVATE KEY-----\n" + body)
	require.True(t, strings.HasPrefix(out, redact.Mask+"\n"))
	kept := strings.TrimPrefix(out, redact.Mask+"\n")
	dropped := (64 << 10) / len(line)
	require.Equal(t, strings.Repeat(line, strings.Count(body, "\n")-dropped), kept, "past the bound, lines are judged one by one again")
}

func TestHoldIsBounded(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	const hold = 4 << 10
	s := r.NewStream(hold)
	word := "lorem ipsum dolor sit amet "
	var taken int64
	for range 2000 {
		s.Write([]byte(word))
		taken += int64(len(word))
		require.Less(t, taken-s.Released(), int64(hold), "never more than hold bytes held")
	}
	// A long line keeps its context across the cut: the value after a
	// name is still judged a secret.
	pw := redacttest.Credentials["named-password"]
	text := strings.Repeat("a ", hold/2-3) + "password: " + pw + "\n"
	require.NotContains(t, streamed(r, hold, text, nil), pw)
}

func TestURLCredentials(t *testing.T) {
	t.Parallel()
	r := newRedactor()
	for in, want := range map[string]string{
		"postgres://user:pass@host/db":                      "postgres://user:" + redact.Mask + "@host/db",
		"redis://:s3cr3t@cache:6379":                        "redis://:" + redact.Mask + "@cache:6379",
		`{"url":"amqp://guest:guest@rabbit:5672/"}`:         `{"url":"amqp://guest:` + redact.Mask + `@rabbit:5672/"}`,
		"ssh://git@github.com:22/x.git":                     "ssh://git@github.com:22/x.git",
		"http://example.com:8080/path@not-userinfo":         "http://example.com:8080/path@not-userinfo",
		"see https://docs.example.com/a:b for the password": "see https://docs.example.com/a:b for the password",
	} {
		require.Equal(t, want, r.String(in), in)
	}
}

func TestNamedValuesAndExactValues(t *testing.T) {
	t.Parallel()
	r := redact.New("hunter2-correct-horse")
	for text, gone := range map[string]string{
		"password=hunter2xyz":                       "hunter2xyz",
		"API_KEY=abcdefgh12":                        "abcdefgh12",
		`"client_secret": "s3cr3tvalue"`:            "s3cr3tvalue",
		"Authorization: Bearer abcdefghijklmnop":    "abcdefghijklmnop",
		"my pass is hunter2-correct-horse, keep it": "hunter2-correct-horse",
		"token: plainword12":                        "plainword12",
	} {
		require.NotContains(t, r.String(text), gone, text)
	}
}

func TestOrdinaryTextIsKept(t *testing.T) {
	t.Parallel()
	r := redact.New()
	for _, text := range []string{
		"cfce1256-5ceb-4425-b0ed-18cf7759f13f",
		"01J9ZX4K2M3N4P5Q6R7S8T9V0W",
		"commit 4d2ee72a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e",
		"/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js",
		"the quick brown fox jumps over the lazy dog",
		`{"type":"assistant","message":{"id":"msg_fake_4618f1cc0b304d66b52d"}}`,
		`{"usage":{"input_tokens":1234,"output_tokens":56,"cache_read_input_tokens":0}}`,
		"toolu_c265ff4030e245c9bd954396",
		"run_shell_command__run_shell_command_1795258731197_0",
		"description: Run requested command",
		"github.com/phantom-run/phantom/services/runner/internal/domain/redact",
		"/tmp/TestRawOutputArrivesExactly2750616821/003",
		"BenchmarkAppendVsBareAsyncWithRedaction20260101",
		"func (k *keywords) scan(s []byte, hits ruleMask) {",
		"see https://github.com/gitleaks/gitleaks for the rules",
		"-----BEGIN CERTIFICATE-----",
	} {
		require.Equal(t, text, r.String(text))
	}
}

func TestSecretEnv(t *testing.T) {
	t.Parallel()
	got := redact.SecretEnv([]string{"ANTHROPIC_API_KEY=sk-1", "PATH=/bin", "GITHUB_TOKEN=t", "HOME=/root", "DB_PASSWORD=x"})
	require.Equal(t, []string{"sk-1", "t", "x"}, got)
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := redacttest.Credentials
	log := slog.New(redact.NewHandler(slog.NewTextHandler(&buf, nil), redact.New("super-secret-value")))
	log.With("argv", []string{"claude", "--key", c["anthropic"]}).Info("spawned with super-secret-value",
		"line", "x "+c["github-pat"], slog.Group("g", "v", c["aws-key-id"]), "err", os.ErrNotExist, "url", "postgres://u:"+c["url-password"]+"@h/db")
	out := buf.String()
	for _, s := range []string{"super-secret-value", c["anthropic"], c["github-pat"], c["aws-key-id"], c["url-password"]} {
		require.NotContains(t, out, s)
	}
	require.Contains(t, out, "file does not exist")
}

// TestGitleaksCopyIsTheRelease checks the embedded rule data against the
// checksums recorded with its version (`make redact-rules-check` compares
// them with the release itself).
func TestGitleaksCopyIsTheRelease(t *testing.T) {
	t.Parallel()
	version, err := os.ReadFile("gitleaks/VERSION")
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^v8\.\d+\.\d+\n$`), string(version))
	sums, err := os.ReadFile("gitleaks/SHA256SUMS")
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		require.True(t, ok, line)
		data, err := os.ReadFile("gitleaks/" + name)
		require.NoError(t, err)
		got := sha256.Sum256(data)
		require.Equal(t, sum, hex.EncodeToString(got[:]), "gitleaks/%s was changed: copy it again from the release", name)
	}
}

func FuzzStream(f *testing.F) {
	for _, sh := range shapes {
		f.Add(sh.Text, uint64(len(sh.Text)/2))
	}
	f.Add("-----BEGIN PRIVATE KEY-----\nabc", uint64(3))
	r := newRedactor()
	f.Fuzz(func(t *testing.T, s string, seed uint64) {
		whole := r.String(s)
		if strings.Contains(s, redacttest.ExactValue) && strings.Contains(whole, redacttest.ExactValue) {
			t.Fatalf("exact value kept in %q", whole)
		}
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		var cuts []int
		for c := 0; c < len(s); c += 1 + rng.IntN(16) {
			cuts = append(cuts, c)
		}
		if got := streamed(r, 0, s, cuts); got != whole {
			t.Fatalf("split at %v: %q, whole: %q", cuts, got, whole)
		}
	})
}
