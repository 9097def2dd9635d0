// Package static embeds the dashboard's CSS, JavaScript and images.
package static

import "embed"

// FS holds every static file, served under /static/.
//
//go:embed *.js *.css *.svg
var FS embed.FS
