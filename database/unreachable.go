package database

import (
	"errors"

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
