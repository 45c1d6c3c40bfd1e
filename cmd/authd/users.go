package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/authd/authd/adapters/sessioncache"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd/authd/adapters/audit"
	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/clock"
	"github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/adapters/refreshtoken"
	"github.com/authd/authd/app"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The operator's command line: `authd users ...` works on the configured
// store (the same AUTHD_DATABASE_URL as the servers, which may be running)
// through the same use cases as the admin API. Output is for people, or
// JSON with --json; audit events go to stderr as JSON lines with actor
// "cli". Exit codes: 0 done, 1 failed (unknown user, storage error),
// 2 usage.

const usersUsage = `usage: authd users COMMAND [flags]
  list [--email-like PREFIX] [--after ID] [--limit N] [--json]
  show EMAIL|ID [--json]
  deactivate EMAIL|ID [--json]     (ends every session at once)
  activate EMAIL|ID [--json]
  revoke-sessions EMAIL|ID [--json]
  delete EMAIL|ID --yes [--json]`

// usageError is a command line that cannot be run as typed (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// cliArgs are a command's positional arguments and flags, in any order.
type cliArgs struct {
	pos   []string
	flags map[string]string
}

// parseCLIArgs splits args into positionals and --flags; valued lists the
// flags that take a value (--limit 5 or --limit=5).
func parseCLIArgs(args []string, valued ...string) (cliArgs, error) {
	a := cliArgs{flags: map[string]string{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			a.pos = append(a.pos, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		takes := false
		for _, v := range valued {
			takes = takes || v == name
		}
		switch {
		case takes && !hasValue && i+1 < len(args):
			i++
			value = args[i]
		case takes && !hasValue:
			return a, usageError{"--" + name + " needs a value\n" + usersUsage}
		case !takes && hasValue:
			return a, usageError{"--" + name + " takes no value\n" + usersUsage}
		}
		a.flags[name] = value
	}
	return a, nil
}

// runUsers implements `authd users ...`.
func runUsers(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{usersUsage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "list", "show", "deactivate", "activate", "revoke-sessions", "delete":
	default:
		return usageError{fmt.Sprintf("unknown users command %q\n%s", cmd, usersUsage)}
	}
	a, err := parseCLIArgs(rest, "email-like", "after", "limit")
	if err != nil {
		return err
	}
	for name := range a.flags {
		if !allowedFlag(cmd, name) {
			return usageError{fmt.Sprintf("%s does not take --%s\n%s", cmd, name, usersUsage)}
		}
	}
	st, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := operatorService(cfg, st, slog.New(slog.NewJSONHandler(stderr, nil)))
	if err != nil {
		return err
	}
	ctx = ports.WithActor(ctx, "cli")
	out := cliOutput{w: stdout, json: has(a, "json")}
	if cmd == "list" {
		return listUsers(ctx, svc, a, out)
	}
	if err := userCommand(ctx, svc, cmd, a, out); err != nil {
		return err
	}
	syncSessionCaches(ctx, st, stderr)
	return nil
}

// syncSessionCaches waits until every running instance's session cache
// has heard of the change the command made (PostgreSQL; on SQLite each
// instance checks before every answer), so a request right after the
// command sees it. A failure is a warning: the change is made, and the
// caches hear of it within moments anyway.
func syncSessionCaches(ctx context.Context, st store, stderr io.Writer) {
	s, ok := st.(sessioncache.Syncer)
	if !ok {
		return
	}
	if err := s.SyncSessions(ctx); err != nil {
		fmt.Fprintf(stderr, "warning: running instances may take a moment to see the change: %v\n", err)
	}
}

func has(a cliArgs, flag string) bool { _, ok := a.flags[flag]; return ok }

// allowedFlag tells which flags each command takes.
func allowedFlag(cmd, flag string) bool {
	switch flag {
	case "json":
		return true
	case "email-like", "after", "limit":
		return cmd == "list"
	case "yes":
		return cmd == "delete"
	}
	return false
}

// operatorService builds the use cases the CLI needs over st, with none of
// the server's background work. Audit events go to logger.
func operatorService(cfg config, st store, logger *slog.Logger) (*app.Service, error) {
	hasher, err := bcrypt.New(cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	tokens, err := jwt.New(jwt.Config{Secret: cfg.JWTSecret, SigningKey: cfg.JWTSigningKey, VerificationKeys: cfg.JWTVerificationKeys,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL})
	if err != nil {
		return nil, err
	}
	sessionTokens, err := refreshtoken.New(cfg.RefreshKey)
	if err != nil {
		return nil, err
	}
	return app.New(app.Ports{
		Users: st.Users(), Sessions: st.Sessions(), Hasher: hasher, Tokens: tokens,
		SessionTokens: sessionTokens, Clock: clock.System{}, Events: audit.New(logger),
	}, app.Config{})
}

// listUsers prints a page of users and, when there may be more, the
// cursor for the next page.
func listUsers(ctx context.Context, svc *app.Service, a cliArgs, out cliOutput) error {
	if len(a.pos) != 0 {
		return usageError{"list takes no arguments\n" + usersUsage}
	}
	q := ports.UserQuery{EmailPrefix: strings.TrimRight(a.flags["email-like"], "*%"), Limit: 50}
	var err error
	if v, ok := a.flags["limit"]; ok {
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 || q.Limit > ports.MaxUserQueryLimit {
			return usageError{fmt.Sprintf("--limit %q is not a number from 1 to %d", v, ports.MaxUserQueryLimit)}
		}
	}
	if v, ok := a.flags["after"]; ok {
		if q.AfterID, err = strconv.ParseInt(v, 10, 64); err != nil || q.AfterID < 0 {
			return usageError{fmt.Sprintf("--after %q is not a user id", v)}
		}
	}
	users, err := svc.ListUsers(ctx, q)
	if err != nil {
		return err
	}
	next := ""
	if len(users) == q.Limit {
		next = strconv.FormatInt(users[len(users)-1].ID(), 10)
	}
	return out.users(users, next)
}

// userCommand runs a command on one user, named by email or id.
func userCommand(ctx context.Context, svc *app.Service, cmd string, a cliArgs, out cliOutput) error {
	if len(a.pos) != 1 {
		return usageError{cmd + " takes one EMAIL or ID\n" + usersUsage}
	}
	u, err := svc.FindUser(ctx, a.pos[0])
	if errors.Is(err, domain.ErrUserNotFound) {
		return fmt.Errorf("no user %q", a.pos[0])
	}
	if err != nil {
		return err
	}
	switch cmd {
	case "show":
		d, err := svc.UserDetails(ctx, u.ID())
		if err != nil {
			return err
		}
		return out.details(d)
	case "deactivate":
		return out.userOrErr(svc.DeactivateUser(ctx, u.ID()))
	case "activate":
		return out.userOrErr(svc.ActivateUser(ctx, u.ID()))
	case "revoke-sessions":
		n, err := svc.RevokeUserSessions(ctx, u.ID())
		if err != nil {
			return err
		}
		return out.result(map[string]any{"id": u.ID(), "revoked": n}, fmt.Sprintf("ended %d sessions of %s", n, u.Email()))
	case "delete":
		if !has(a, "yes") {
			return usageError{fmt.Sprintf("refusing to delete user %d (%s) without --yes", u.ID(), u.Email())}
		}
		if err := svc.DeleteUser(ctx, u.ID()); err != nil {
			return err
		}
		return out.result(map[string]any{"id": u.ID(), "deleted": true}, fmt.Sprintf("deleted user %d (%s)", u.ID(), u.Email()))
	}
	return fmt.Errorf("users command %q has no handler", cmd) // runUsers admits known commands only
}

// cliOutput writes a command's result for people or, with json, as one
// JSON document.
type cliOutput struct {
	w    io.Writer
	json bool
}

// cliUser is a user's JSON shape on the command line: the API's, never
// the password hash.
type cliUser struct {
	ID           int64   `json:"id"`
	Email        string  `json:"email"`
	IsActive     bool    `json:"is_active"`
	CreatedAt    string  `json:"created_at"`
	LiveSessions *int    `json:"live_sessions,omitempty"`
	LastLogin    *string `json:"last_login,omitempty"`
}

func newCLIUser(u *domain.User) cliUser {
	return cliUser{ID: u.ID(), Email: u.Email().String(), IsActive: u.IsActive(), CreatedAt: u.CreatedAt().UTC().Format(time.RFC3339)}
}

func (o cliOutput) users(users []*domain.User, next string) error {
	if o.json {
		list := make([]cliUser, 0, len(users))
		for _, u := range users {
			list = append(list, newCLIUser(u))
		}
		doc := map[string]any{"users": list}
		if next != "" {
			doc["next_cursor"] = next
		}
		return json.NewEncoder(o.w).Encode(doc)
	}
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tACTIVE\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%s\n", u.ID(), u.Email(), u.IsActive(), u.CreatedAt().UTC().Format(time.RFC3339))
	}
	if next != "" {
		fmt.Fprintf(tw, "(more: --after %s)\n", next)
	}
	return tw.Flush()
}

func (o cliOutput) details(d *app.UserDetails) error {
	cu := newCLIUser(d.User)
	cu.LiveSessions = &d.LiveSessions
	last := "never"
	if !d.LastLogin.IsZero() {
		last = d.LastLogin.UTC().Format(time.RFC3339)
		cu.LastLogin = &last
	}
	if o.json {
		return json.NewEncoder(o.w).Encode(cu)
	}
	_, err := fmt.Fprintf(o.w, "id:            %d\nemail:         %s\nactive:        %v\ncreated:       %s\nlive sessions: %d\nlast login:    %s\n",
		cu.ID, cu.Email, cu.IsActive, cu.CreatedAt, d.LiveSessions, last)
	return err
}

func (o cliOutput) userOrErr(u *domain.User, err error) error {
	if err != nil {
		return err
	}
	state := "active"
	if !u.IsActive() {
		state = "inactive (every session ended)"
	}
	return o.result(newCLIUser(u), fmt.Sprintf("user %d (%s) is %s", u.ID(), u.Email(), state))
}

func (o cliOutput) result(doc any, human string) error {
	if o.json {
		return json.NewEncoder(o.w).Encode(doc)
	}
	_, err := fmt.Fprintln(o.w, human)
	return err
}
