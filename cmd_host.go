package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/fleet"
)

var hostCommand = command{
	summary: "Manage the fleet's hosts: enrol one (add: prints its agent token once, then the lines that start its agent), " +
		"list them, give one a new token (rotate: the old one is refused at once), or remove one (its token is refused; --purge also deletes its history). " +
		"Enrolling, rotating and removing are in the audit log.",
	usage: "add NAME [--label KEY=VALUE]... [--quiet] | list | rotate NAME [--quiet] | remove NAME [--purge]",
	run:   runHost,
}

// labelFlags collects repeated --label KEY=VALUE.
type labelFlags fleet.Labels

func (l labelFlags) String() string { return "" }

func (l labelFlags) Set(v string) error {
	k, val, err := fleet.ParseLabel(v)
	if err != nil {
		return err
	}
	l[k] = val
	return nil
}

func runHost(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "host")
	labels := labelFlags{}
	fs.Var(labels, "label", "add: a label KEY=VALUE (repeat for more), e.g. --label env=prod --label role=db")
	quiet := fs.Bool("quiet", false, "add, rotate: print the token alone, for scripts")
	purge := fs.Bool("purge", false, "remove: also delete every stored sample, rollup and alert of the host")
	action, name, err := hostArgs(env, fs, args)
	if err != nil {
		return err
	}
	return withDatabase(ctx, env, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		switch action {
		case "add":
			var h fleet.Enrolled
			var token string
			if err := changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				var err error
				h, token, err = fleet.NewRegistry(tx, nil).Add(ctx, name, fleet.Labels(labels))
				return []audit.Entry{audit.HostEnrolled(h)}, err
			}); err != nil {
				return err
			}
			printToken(env, cfg, h, token, *quiet, "enrolled")
		case "rotate":
			var h fleet.Enrolled
			var token string
			if err := changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				var err error
				h, token, err = fleet.NewRegistry(tx, nil).Rotate(ctx, name)
				return []audit.Entry{audit.HostRotated(h)}, err
			}); err != nil {
				return err
			}
			printToken(env, cfg, h, token, *quiet, "new token for")
		case "remove":
			var r fleet.Removed
			if err := changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				var err error
				r, err = fleet.NewRegistry(tx, nil).Remove(ctx, name, *purge)
				return []audit.Entry{audit.HostRemoved(r)}, err
			}); err != nil {
				return err
			}
			if r.Purged != nil {
				fmt.Fprintf(env.stdout, "removed %s; its token is refused from now on; deleted its history: %s\n", r.Name, joinCounts(r.Purged))
			} else {
				fmt.Fprintf(env.stdout, "removed %s; its token is refused from now on; %d open alerts closed; its history stays (--purge deletes it)\n",
					r.Name, r.ResolvedAlerts)
			}
		case "list":
			return listHosts(ctx, env, pool, cfg)
		}
		return nil
	})
}

// hostArgs reads ACTION [NAME] with flags before or after the name.
func hostArgs(env *environment, fs *flag.FlagSet, args []string) (action, name string, err error) {
	actions := []string{"add", "list", "rotate", "remove"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	if err := parse(env, fs, args); err != nil {
		return "", "", err
	}
	rest := fs.Args()
	if len(rest) > 0 {
		name, rest = rest[0], rest[1:]
		if err := fs.Parse(rest); err != nil {
			return "", "", errUsage
		}
		rest = fs.Args()
	}
	switch {
	case !slices.Contains(actions, action):
		if action != "" {
			fmt.Fprintf(env.stderr, "infradash host: unknown action %q (want %s)\n", action, strings.Join(actions, ", "))
		}
	case action == "list" && name != "":
		fmt.Fprintf(env.stderr, "infradash host list: unexpected argument %q\n", name)
	case action != "list" && name == "":
		fmt.Fprintf(env.stderr, "infradash host %s: the host's NAME is required, like: infradash host %s web-1\n", action, action)
	case len(rest) > 0:
		fmt.Fprintf(env.stderr, "infradash host %s: unexpected argument %q\n", action, rest[0])
	default:
		return action, name, nil
	}
	fs.Usage()
	return "", "", errUsage
}

// printToken shows a new agent token once, with what an operator runs on the host to start its
// agent; --quiet prints the token alone for scripts.
func printToken(env *environment, cfg config.Config, h fleet.Enrolled, token string, quiet bool, verb string) {
	if quiet {
		fmt.Fprintln(env.stdout, token)
		return
	}
	w := env.stdout
	fmt.Fprintf(w, "%s %s%s. Its agent token, shown only now:\n\n  %s\n\n", verb, h.Name, labelSuffix(h.Labels), token)
	fleet.WriteStartLines(w, cfg.BaseURL, token)
}

func labelSuffix(l fleet.Labels) string {
	if len(l) == 0 {
		return ""
	}
	return " (" + l.String() + ")"
}

func joinCounts(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func listHosts(ctx context.Context, env *environment, pool *pgxpool.Pool, cfg config.Config) error {
	view := fleet.New(fleet.Options{DB: pool, DownAfter: cfg.HostDownAfter})
	if err := view.Refresh(ctx); err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATUS\tLAST SEEN\tAGENT\tLABELS\tENROLLED")
	for _, h := range view.Hosts() {
		seen, agent := "-", h.AgentVersion
		if !h.LastSeen.IsZero() {
			seen = h.LastSeen.UTC().Format(time.RFC3339)
		}
		if h.Local {
			agent = "in the hub"
		} else if agent == "" {
			agent = "-"
		}
		labels := h.Labels.String()
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Status, seen, agent, labels, h.CreatedAt.Format("2006-01-02"))
	}
	return w.Flush()
}
