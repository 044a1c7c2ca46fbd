package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/pkg/datadir"
)

// Settings say which Phantom the CLI talks to.
type Settings struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// FileName is the client settings file `phantom up` writes in its data dir.
const FileName = "client.json"

// DefaultURL is where `phantom up` listens unless told otherwise.
const DefaultURL = "http://127.0.0.1:7400"

// SettingsPath is the client settings file of a data dir.
func SettingsPath(dataDir string) string { return filepath.Join(dataDir, FileName) }

// WriteSettings writes s to path with mode 0600 (it holds the token),
// replacing the file atomically so a reader never sees half of it.
func WriteSettings(path string, s Settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("could not encode the client settings: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".client-*.json")
	if err != nil {
		return fmt.Errorf("could not write the client settings: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("could not write the client settings: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("could not write the client settings: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("could not write the client settings: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("could not write the client settings: %w", err)
	}
	return nil
}

// ReadSettings reads a client settings file; a missing file is fs.ErrNotExist.
func ReadSettings(path string) (Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, err
	}
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return Settings{}, fmt.Errorf("could not read %s: %w", path, err)
	}
	return s, nil
}

// Resolve picks the URL and token, each from the first place that has it:
// the flag, then PHANTOM_URL / PHANTOM_TOKEN, then the client.json that
// `phantom up` wrote in the data dir, then (for the URL) DefaultURL.
func Resolve(flagURL, flagToken string, getenv func(string) string) (Settings, error) {
	s := Settings{URL: flagURL, Token: flagToken}
	if s.URL == "" {
		s.URL = getenv("PHANTOM_URL")
	}
	if s.Token == "" {
		s.Token = getenv("PHANTOM_TOKEN")
	}
	if s.URL == "" || s.Token == "" {
		dir, err := datadir.Resolve(getenv)
		if err != nil {
			return Settings{}, err
		}
		file, err := ReadSettings(SettingsPath(dir))
		switch {
		case err == nil:
			if s.URL == "" {
				s.URL = file.URL
			}
			if s.Token == "" {
				s.Token = file.Token
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			return Settings{}, err
		}
	}
	if s.URL == "" {
		s.URL = DefaultURL
	}
	s.URL = strings.TrimRight(s.URL, "/")
	if s.Token == "" {
		return Settings{}, errors.New("no API token: start `phantom up` on this machine (it writes one the CLI finds), or set PHANTOM_TOKEN or --token")
	}
	return s, nil
}
