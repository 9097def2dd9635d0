package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/config"
)

var userCommand = command{
	summary: "Manage accounts: add one, set a new password (passwd; also lifts a lock-out and ends the user's sessions and API tokens), " +
		"disable one (no login; sessions and API tokens end), enable it again, make it admin or viewer (role), or list them. " +
		"The last enabled admin can be neither disabled nor demoted. Every change is in the audit log, as cli and your OS user. " +
		"The password is read from a prompt, or from the first line of stdin when it is not a terminal; never from an argument.",
	usage: "add --email EMAIL [--role admin|viewer] | passwd --email EMAIL | disable --email EMAIL | enable --email EMAIL | " +
		"role --email EMAIL --role admin|viewer | list",
	run: runUser,
}

func runUser(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "user")
	email := fs.String("email", "", "add, passwd, disable, enable, role: the account's email")
	role := fs.String("role", auth.RoleViewer, "add, role: admin (may also change things: acknowledge alerts, the settings) or viewer (reads only)")
	action, err := subcommand(env, fs, args, "add", "passwd", "disable", "enable", "role", "list")
	if err != nil {
		return err
	}
	if action != "list" && *email == "" {
		fmt.Fprintf(env.stderr, "infradash user %s: --email is required\n", action)
		return errUsage
	}
	if action == "add" {
		// Check before asking for a password nobody can use.
		if err := auth.ValidateNewUser(*email, strings.Repeat("x", auth.MinPasswordLength), *role); err != nil {
			return err
		}
	}
	if action == "role" {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "role" })
		if !set {
			fmt.Fprintln(env.stderr, "infradash user role: --role is required (admin or viewer)")
			return errUsage
		}
		if err := auth.ValidateRole(*role); err != nil {
			return err
		}
	}
	return withDatabase(ctx, env, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		store := newAuthStore(cfg, pool)
		email := auth.NormalizeEmail(*email)
		// change applies ch to the account in one transaction with its audit entries (the
		// rules are the settings pages' and the API's: auth.Store.UpdateUser).
		change := func(ch auth.UserChange) (auth.UserUpdate, error) {
			u, err := store.UserByEmail(ctx, email)
			if err != nil {
				return auth.UserUpdate{}, err
			}
			var up auth.UserUpdate
			err = changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				var err error
				up, err = store.In(tx).UpdateUser(ctx, u.ID, ch)
				return audit.UserChanges(up, ch.Password != nil), err
			})
			return up, err
		}
		switch action {
		case "add":
			password, err := readPassword(env, true)
			if err != nil {
				return err
			}
			var u auth.User
			if err := changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				var err error
				u, err = store.In(tx).CreateUser(ctx, email, password, *role)
				return []audit.Entry{audit.UserCreated(u, false)}, err
			}); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "created %s %s (id %d)\n", u.Role, u.Email, u.ID)
		case "passwd":
			if _, err := store.UserByEmail(ctx, email); err != nil {
				return err
			}
			password, err := readPassword(env, true)
			if err != nil {
				return err
			}
			up, err := change(auth.UserChange{Password: &password})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "password of %s changed; their sessions ended and %d API tokens were revoked %s\n",
				email, up.RevokedTokens, cutOffNote)
		case "disable":
			yes := true
			up, err := change(auth.UserChange{Disabled: &yes})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s disabled: no login; their sessions ended and %d API tokens were revoked %s\n",
				email, up.RevokedTokens, cutOffNote)
		case "enable":
			no := false
			if _, err := change(auth.UserChange{Disabled: &no}); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s enabled: they may log in again\n", email)
		case "role":
			up, err := change(auth.UserChange{Role: role})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s is now %s (was %s)\n", email, up.After.Role, up.Before.Role)
		case "list":
			users, err := store.Users(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tEMAIL\tROLE\tCREATED\tLAST LOGIN\tLOCKED UNTIL\tDISABLED")
			for _, u := range users {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, stamp(&u.CreatedAt), stamp(u.LastLoginAt),
					stamp(u.LockedUntil), stamp(u.DisabledAt))
			}
			return w.Flush()
		}
		return nil
	})
}

// cutOffNote: running servers check every request's credential in the database, so a cut-off
// applies to them at once.
const cutOffNote = "(running servers refuse them from now on)"

// subcommand splits "ACTION [flags]", checks the action and parses the flags.
func subcommand(env *environment, fs *flag.FlagSet, args []string, actions ...string) (string, error) {
	action := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	if err := parse(env, fs, args); err != nil {
		return "", err
	}
	if !slices.Contains(actions, action) || fs.NArg() != 0 {
		if action != "" && !slices.Contains(actions, action) {
			fmt.Fprintf(env.stderr, "%s: unknown action %q (want %s)\n", fs.Name(), action, strings.Join(actions, ", "))
		} else if fs.NArg() != 0 {
			fmt.Fprintf(env.stderr, "%s %s: unexpected argument %q; values go after their flag, like --email ops@example.com\n",
				fs.Name(), action, fs.Arg(0))
		}
		fs.Usage()
		return "", errUsage
	}
	return action, nil
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// newAuthStore is the account store with the configured lock-out rules.
func newAuthStore(cfg config.Config, pool *pgxpool.Pool) *auth.Store {
	return auth.NewStore(pool, auth.Options{MaxFailures: cfg.LoginMaxFailures, Lockout: cfg.LoginLockout})
}

// readPassword asks on the terminal without echo (twice when confirm), or reads the first line
// of stdin when it is a pipe, so scripts can set passwords without putting them in argv.
func readPassword(env *environment, confirm bool) (string, error) {
	if f, ok := env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(env.stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(env.stderr)
			return string(b), err
		}
		pw, err := ask("Password: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if err := auth.ValidatePassword(pw); err != nil {
			return "", err
		}
		if confirm {
			again, err := ask("Repeat the password: ")
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			if again != pw {
				return "", errors.New("the passwords differ")
			}
		}
		return pw, nil
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password: type it at the prompt or pipe it on stdin")
	}
	return pw, nil
}

// bootstrapAdmin makes sure someone can log in: the ADMIN_EMAIL account is created when missing
// (never overwritten); in development without it, admin@example.com gets a random password,
// printed once on stdout.
func bootstrapAdmin(ctx context.Context, cfg config.Config, store *auth.Store, stdout io.Writer, log *slog.Logger) error {
	email, password := cfg.AdminEmail, cfg.AdminPassword
	if email == "" && cfg.Production() {
		users, err := store.Users(ctx)
		if err == nil && len(users) == 0 {
			log.Warn("no accounts yet: set ADMIN_EMAIL and ADMIN_PASSWORD, or run: infradash user add --email EMAIL --role admin")
		}
		return err
	}
	if email == "" {
		email = "admin@example.com"
	}
	generated := password == ""
	if generated {
		password = rand.Text()
	}
	created, err := store.EnsureUser(ctx, email, password, auth.RoleAdmin)
	if err != nil {
		return fmt.Errorf("admin account %s: %w", email, err)
	}
	switch {
	case created && generated:
		fmt.Fprintf(stdout, "Log in at %s/login as %s with password %s\n", cfg.BaseURL, auth.NormalizeEmail(email), password)
	case created:
		log.Info("admin account created", "email", auth.NormalizeEmail(email))
	case generated:
		fmt.Fprintf(stdout, "Log in at %s/login as %s with the password printed when it was created "+
			"(to set a new one: infradash user passwd --email %s)\n", cfg.BaseURL, auth.NormalizeEmail(email), auth.NormalizeEmail(email))
	}
	return nil
}
