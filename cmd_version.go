package main

import (
	"context"
	"fmt"
	"runtime"
)

var versionCommand = command{
	summary: "Print the version, commit and build date.",
	run: func(ctx context.Context, env *environment, args []string) error {
		if err := parse(env, flags(env, "version"), args); err != nil {
			return err
		}
		ver, rev, date := buildInfo()
		fmt.Fprintf(env.stdout, "infradash %s\ncommit: %s\nbuilt: %s\ngo: %s\n", ver, orUnknown(rev), orUnknown(date), runtime.Version())
		return nil
	},
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
