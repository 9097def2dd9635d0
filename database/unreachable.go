package database

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unreachable reports whether err means PostgreSQL could not be reached or went away (refused,
// timed out, connection lost, server shutting down): trying again later may succeed. Any other
// error is about the statement or its data, and repeating it will fail the same way.
func Unreachable(err error) bool {
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is connection exception; 57P01-57P03 are an administrator or crash
		// shutdown and "the database system is starting up".
		switch pgErr.Code {
		case "57P01", "57P02", "57P03":
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08"
	}
	return false
}

// Refusing reports whether err means PostgreSQL is up but refuses to store anything for now,
// whoever asks: a read-only transaction mode (default_transaction_read_only, or a standby:
// SQLSTATE 25006) or class 53, insufficient resources (53100 disk full, 53200 out of memory,
// 53300 too many connections). Nothing of the statement was stored, and trying again once an
// operator has fixed the server may succeed: to a client it is an outage, not its mistake.
func Refusing(err error) bool { return RefusalReason(err) != "" }

// RefusalReason says, in an operator's words, why PostgreSQL refuses to store anything, or ""
// when err is not such a refusal (Refusing).
func RefusalReason(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ""
	}
	switch {
	case pgErr.Code == "25006":
		return "the database is read-only (default_transaction_read_only, or a standby); nothing can be stored (SQLSTATE 25006)"
	case pgErr.Code == "53100":
		return "the database's disk is full; nothing can be stored (SQLSTATE 53100)"
	case pgErr.Code == "53200":
		return "the database is out of memory (SQLSTATE 53200)"
	case pgErr.Code == "53300":
		return "the database has no connection left (SQLSTATE 53300, max_connections)"
	case strings.HasPrefix(pgErr.Code, "53"):
		return "the database lacks the resources to store anything: " + pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	return ""
}

// Unavailable reports whether the database cannot serve err's statement for now, whoever asks:
// Unreachable or Refusing. Clients get 503 with Retry-After for it, never a 500.
func Unavailable(err error) bool { return Unreachable(err) || Refusing(err) }
