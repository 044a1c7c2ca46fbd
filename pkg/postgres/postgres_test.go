package postgres_test

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/postgres"
	"github.com/phantom-run/phantom/pkg/testenv"
)

func TestMigrateAppliesOnceAndRecordsVersion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testenv.Postgres(t)
	pool, err := postgres.Connect(ctx, postgres.Config{URL: url, MaxConns: 4, ConnectTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer pool.Close()

	migs := fstest.MapFS{
		"0001_a.up.sql":   {Data: []byte("CREATE TABLE a (id int PRIMARY KEY);")},
		"0001_a.down.sql": {Data: []byte("DROP TABLE a;")},
		"0002_b.up.sql":   {Data: []byte("CREATE TABLE b (id int PRIMARY KEY);")},
		"0002_b.down.sql": {Data: []byte("DROP TABLE b;")},
	}
	// Concurrent starters serialise on the migration lock.
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- postgres.Migrate(ctx, pool, migs) }()
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, <-errs)
	}
	var version int
	var dirty bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&version, &dirty))
	require.Equal(t, 2, version)
	require.False(t, dirty)
	_, err = pool.Exec(ctx, "INSERT INTO b VALUES (1)")
	require.NoError(t, err)
}

func TestConnectNamesTheMissingURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Connect(context.Background(), postgres.Config{})
	require.ErrorContains(t, err, "PHANTOM_DATABASE_URL")
}
