// Package redacttest is a corpus of fake credentials written in every shape
// an agent may print them in, for the tests of the redactor and of the
// services that must keep them out of what they store. None of them is a
// real credential.
package redacttest

import (
	"fmt"
	"strings"
)

// Sample is a text holding secrets.
type Sample struct {
	Name string
	Text string
	// Secrets are the parts that must never be seen.
	Secrets []string
}

// ExactValue is a secret known only by its value (an environment
// variable's): a redactor is told it.
const ExactValue = "correct-horse-battery-staple-42"

// Credentials are fake keys by name, each in a format a redactor knows.
var Credentials = map[string]string{
	"aws-key-id":         "AKIAZ3MSJQ4YBXK7LQPF",
	"aws-secret":         "9rT2xqLk8WvB3nZp5YcH0dJf7sMa4eUg6iQo1Rwy",
	"github-pat":         "ghp_4fH9kL2mQ7rT1vX8bN3cZ6yW0pJ5sD9aE2gU",
	"github-finegrained": "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6vB8",
	"anthropic":          "sk-ant-api03-Qw7Er5Ty3Ui1Op9As7Df5Gh3Jk1Lz9Xc7Vb5Nm3Qw1Er9Ty7Ui5Op3As1Df9Gh7Jk5Lz3Xc1Vb9Nm7Qw5Er3Ty1Ui9Op7As5Df3Gh1-Jk9Lz7AA",
	"openai":             "sk-proj-Zx8Cv6Bn4Mq2Wl0Ek9Rj7Th5Yg3Uf1Id8Os6Pa4Sz2Xd0Cf9Vg7Bh5Nj3Mk1Lq8Wz6Ex4Rc2Tv0Yb9Un7Im5Ok3Pl1",
	"slack-bot":          "xoxb-2849371650-4827361950284-Kq7Lm2Np9Rs4Tv6Wx8Yz1Ab",
	"stripe":             "sk_live_51Hq8Zx2Lm7Np4Rs9Tv6Wx3Yz0Ab5Cd",
	"google-api":         "AIzaSyB7x2Lq9Mv4Np8Rs3Tw6Yz1Ac5De0Fg7Hi",
	"jwt":                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4MzkyNzQ2NTEwIiwibmFtZSI6IlBoYW50b20gVGVzdCIsImlhdCI6MTcwMDAwMDAwMH0.Xq7bN2mK9vL4pR8sT1wY6zA3cD5eF0gH7jJ2kM4nP9q",
	"url-password":       "Pg7xWq2Lm9Vr4Nt",
	"named-password":     "Hunter2Horse!Staple",
	"json-api-key":       "a8F3kL9qW2eR7tY4uI1oP6sD0fG5hJ3k",
	"exact":              ExactValue,
}

// privateKeyBody is a fake RSA key body (random bytes in base64).
var privateKeyBody = []string{
	"UvImZaYMEtKJGF2VDuiBNgkWb2sRPReNbA/TkB/yOaGglfIPk5VlDPk4C47bIkpr",
	"JIoekk6P0K4uGpSSozBfGIy2EJAPnjR/rohtxlB3lex0XEw/yy6yxz4Uk0yGfuBX",
	"unJJm/oSHoNrKsFXJu59awr2qxPDjpLK4NFQV7FZmH+UzHQR1xfxRXmyqhAPu7NP",
	"pZP+rtJySLdi46tYBfB2WiucHX4PN8RJIb0/ZWTq338UKnJmjEfiI9Fu3YxHtGr8",
	"W67iYfU7JhUtJjuoOwN81JYuQ0gBJWuIXpyQUfMgsNuD856nrb0NdObex/PfrsyP",
	"ZGVmZBp7omYPMBH8NXApHFeZDRoAkSaJGfJdnQYS3zWdYCaiQPRYml15Hx3ZfP76",
	"d3p7TxUkGr9XvUN61LEphAU08/OHXCWwi+oGwodM+qTdF7LYQoRd6CpbxTmIiseA",
	"IAcml+d3zqclnNOY+nmo71knjIwhBQPM+LmmGoa/7yNv/N8x0982B0A2SoA9w5ZT",
}

// PrivateKey is a fake PEM private key, line by line.
func PrivateKey() string {
	return "-----BEGIN RSA PRIVATE KEY-----\n" + strings.Join(privateKeyBody, "\n") + "\n-----END RSA PRIVATE KEY-----\n"
}

// Samples are the credentials in every shape: in prose, as an assignment,
// in a JSON string, in a URL, as a header, at the end of a text without a
// newline, and the private key over many lines and escaped in one.
func Samples() []Sample {
	c := Credentials
	one := func(name, text string, secrets ...string) Sample {
		return Sample{Name: name, Text: text, Secrets: secrets}
	}
	var out []Sample
	for _, k := range []string{"aws-key-id", "github-pat", "github-finegrained", "anthropic", "openai", "slack-bot", "stripe", "google-api", "jwt"} {
		out = append(out,
			one(k+"/prose", "the key is "+c[k]+" so keep it\n", c[k]),
			one(k+"/env", "export TOKEN_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))+"="+c[k]+"\n", c[k]),
			one(k+"/json", `{"type":"tool_result","content":"found `+c[k]+` in .env"}`+"\n", c[k]),
		)
	}
	out = append(out,
		one("aws-secret/assignment", "aws_secret_access_key = "+c["aws-secret"]+"\n", c["aws-secret"]),
		one("aws-secret/json", `{"AccessKeyId":"`+c["aws-key-id"]+`","SecretAccessKey":"`+c["aws-secret"]+`"}`+"\n", c["aws-key-id"], c["aws-secret"]),
		one("url/postgres", "connecting to postgres://app:"+c["url-password"]+"@db.internal:5432/app?sslmode=require\n", c["url-password"]),
		one("url/git", "git remote add origin https://x-access-token:"+c["github-pat"]+"@github.com/acme/repo.git\n", c["github-pat"]),
		one("named/password", "password="+c["named-password"]+"\n", c["named-password"]),
		one("named/json", `{"api_key": "`+c["json-api-key"]+`", "region": "eu-west-1"}`+"\n", c["json-api-key"]),
		one("header/bearer", "Authorization: Bearer "+c["jwt"]+"\n", c["jwt"]),
		one("exact/prose", "the staple is "+c["exact"]+", remember it\n", c["exact"]),
		one("pem/lines", "here it is:\n"+PrivateKey()+"done\n", privateKeyBody...),
		one("pem/json", `{"type":"tool_result","content":"`+strings.ReplaceAll(PrivateKey(), "\n", `\n`)+`"}`+"\n", privateKeyBody...),
		one("end/no-newline", "last words: "+c["aws-key-id"], c["aws-key-id"]),
	)
	return out
}

// fragment is the length of the pieces of a secret Leaks looks for: a
// secret cut in two must not leak either half.
const fragment = 12

// Leaks returns the secrets of samples of which text holds a part (any
// fragment of 12 characters, or the whole of a shorter secret).
func Leaks(text string, samples []Sample) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range samples {
		for _, secret := range s.Secrets {
			if seen[secret] {
				continue
			}
			seen[secret] = true
			if leaked(text, secret) {
				out = append(out, fmt.Sprintf("%s (%s)", secret, s.Name))
			}
		}
	}
	return out
}

func leaked(text, secret string) bool {
	if len(secret) <= fragment {
		return strings.Contains(text, secret)
	}
	for i := 0; i+fragment <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+fragment]) {
			return true
		}
	}
	return false
}
