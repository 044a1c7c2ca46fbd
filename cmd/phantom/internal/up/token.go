package up

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is where the generated API token is kept in the data dir.
const TokenFile = "token"

// LoadOrCreateToken returns the API token: fromEnv when set (PHANTOM_TOKEN;
// nothing is written), else the one kept in dataDir/token, generated once
// with 256 random bits and written with mode 0600.
func LoadOrCreateToken(dataDir, fromEnv string) (string, error) {
	if fromEnv != "" {
		return fromEnv, nil
	}
	path := filepath.Join(dataDir, TokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("%s is empty: delete it to get a new token, or set PHANTOM_TOKEN", path)
		}
		// A token readable by others is a leak waiting to happen.
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("could not restrict %s to its owner: %w", path, err)
			}
		}
		return tok, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("could not read the token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("could not generate a token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process made one at the same moment: use it.
		return LoadOrCreateToken(dataDir, "")
	}
	if err != nil {
		return "", fmt.Errorf("could not write the token: %w", err)
	}
	_, err = f.WriteString(tok + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("could not write the token: %w", err)
	}
	return tok, nil
}
