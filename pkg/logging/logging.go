// Package logging builds Phantom's slog logger: JSON in production, text on a
// terminal.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

// Config selects level and format.
type Config struct {
	Level  string `envconfig:"LOG_LEVEL" default:"info" desc:"log level: debug, info, warn or error"`
	Format string `envconfig:"LOG_FORMAT" default:"auto" desc:"log format: json, text, or auto (text on a terminal, JSON otherwise)"`
}

// New returns a logger writing to w.
func New(cfg Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		level = slog.LevelDebug
	case "", "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("PHANTOM_LOG_LEVEL %q must be debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(cfg.Format)
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("PHANTOM_LOG_FORMAT %q must be json, text or auto", cfg.Format)
}
