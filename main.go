// Command infradash samples its host, keeps history in PostgreSQL, raises alerts and serves a
// live dashboard and a JSON API. main wires the packages together; each subcommand lives in its
// own cmd_*.go file and is listed in commands below.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of the infradash binary.
type command struct {
	summary string
	usage   string // arguments after the command name, for --help
	run     func(ctx context.Context, env *environment, args []string) error
}

// commands is the one place a subcommand is registered. It is filled in init because the
// commands' own --help reads it.
var commands map[string]command

func init() {
	commands = map[string]command{
		"serve":        serveCommand,
		"migrate":      migrateCommand,
		"check-config": checkConfigCommand,
		"version":      versionCommand,
		"user":         userCommand,
		"token":        tokenCommand,
		"cleanup":      cleanupCommand,
		"alerts":       alertsCommand,
		"aggregate":    aggregateCommand,
		"partitions":   partitionsCommand,
		"compact":      compactCommand,
		"healthcheck":  healthcheckCommand,
		"host":         hostCommand,
		"agent":        agentCommand,
		"psql":         psqlCommand,
	}
}

// environment is what a command may touch of the outside world; tests replace it.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
}

// errUsage makes main print the command's help and exit 2.
var errUsage = errors.New("usage")

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv}
	code := run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, env *environment, args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		if len(args) == 1 {
			printUsage(env.stdout)
			return 0
		}
		args = []string{args[1], "--help"}
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "infradash: unknown command %q\n\n", name)
		printUsage(env.stderr)
		return 2
	}
	err := cmd.run(ctx, env, args)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &ee):
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(env.stderr, "infradash %s: %v\n", name, ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(env.stderr, "infradash %s: %v\n", name, err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "infradash: a self-hosted infrastructure dashboard.")
	fmt.Fprintln(w, "\nUsage: infradash [command] [flags]   (no command means serve)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'infradash COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Configuration comes from the environment and an optional .env file; see docs/configuration.md.")
}

// flags makes a FlagSet whose --help prints the command's summary, usage and flags.
func flags(env *environment, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("infradash "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	cmd := commands[name]
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\n%s\n", strings.TrimSpace("Usage: infradash "+name+" "+cmd.usage), cmd.summary)
		var defaults strings.Builder
		fs.SetOutput(&defaults)
		fs.PrintDefaults()
		fs.SetOutput(out)
		if defaults.Len() > 0 {
			// Spelled --flag, as in the usage line and the documents (both forms are accepted).
			fmt.Fprint(out, "\nFlags:\n"+strings.ReplaceAll("\n"+defaults.String(), "\n  -", "\n  --")[1:])
		}
	}
	return fs
}

// given reports whether the command line set the flag, so that a value equal to the default
// (0 days, 0 hours) is refused as the mistake it is rather than read as "use the default".
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parse parses args; --help prints to stdout and ends the command successfully.
func parse(env *environment, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(env.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return nil
}
