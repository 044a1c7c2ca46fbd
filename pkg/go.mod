module github.com/phantom-run/phantom/pkg

go 1.25.0
