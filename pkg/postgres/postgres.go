// Package postgres opens Phantom's connection pool and applies versioned
// schema migrations, recorded in the schema_migrations table.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Config is how a service reaches Postgres.
type Config struct {
	URL string `envconfig:"DATABASE_URL" desc:"Postgres URL (postgres://user:pass@host:5432/db)"`
	// MaxConns bounds the pool.
	MaxConns int32 `envconfig:"DATABASE_MAX_CONNS" default:"10" desc:"maximum Postgres connections in the pool"`
	// ConnectTimeout bounds waiting for Postgres at start (it may come up after us).
	ConnectTimeout time.Duration `envconfig:"DATABASE_CONNECT_TIMEOUT" default:"30s" desc:"how long to wait for Postgres at start"`
}

// Connect opens a pool and waits until Postgres answers, up to cfg.ConnectTimeout.
func Connect(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if cfg.URL == "" {
		return nil, errors.New("PHANTOM_DATABASE_URL is not set")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("could not parse PHANTOM_DATABASE_URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("could not create the Postgres pool: %w", err)
	}
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err = pool.Ping(pctx)
		pcancel()
		if err == nil {
			return pool, nil
		}
		select {
		case <-ctx.Done():
			pool.Close()
			return nil, fmt.Errorf("could not reach Postgres: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Migrate applies every migration in migrations (golang-migrate's
// NNNN_name.up.sql layout) that the database has not recorded yet. Concurrent
// callers serialise on an advisory lock, so every service may call it at start.
func Migrate(ctx context.Context, pool *pgxpool.Pool, migrations fs.FS) error {
	src, err := iofs.New(migrations, ".")
	if err != nil {
		return fmt.Errorf("could not read migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: "schema_migrations"})
	if err != nil {
		return fmt.Errorf("could not prepare migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		_ = driver.Close()
		return fmt.Errorf("could not prepare migrations: %w", err)
	}
	// Close returns the connection the driver holds to the pool.
	defer m.Close()
	done := make(chan error, 1)
	go func() { done <- m.Up() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		m.GracefulStop <- true
		err = <-done
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("could not apply migrations: %w", err)
	}
	return nil
}
