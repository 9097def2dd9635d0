// Package schema holds the goose migrations, embedded so the binary carries its own schema.
package schema

import "embed"

// FS holds the numbered *.sql migrations.
//
//go:embed *.sql
var FS embed.FS
