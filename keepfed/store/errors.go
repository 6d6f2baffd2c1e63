package store

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a store error that carries the HTTP status the API answers it
// with, so the HTTP layer can map any store error with errors.As without
// knowing the cause. Msg is safe to show to the client; Err, when set, is
// the underlying cause (for logs).
type Error struct {
	Status int
	Msg    string
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) (and the other sentinels) true for
// every *Error with the same status, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == sentinelMsg && t.Status == e.Status
}

// HTTPStatus returns the status the error is answered with.
func (e *Error) HTTPStatus() int { return e.Status }

const sentinelMsg = "\x00sentinel"

// Sentinels for errors.Is; every *Error with the same status matches.
var (
	// ErrBadRequest matches 422 errors: invalid attributes, values,
	// filters or orders (RailsAPI answers these 422).
	ErrBadRequest = &Error{Status: http.StatusUnprocessableEntity, Msg: sentinelMsg}
	// ErrUnauthorized matches 401 errors: unknown, revoked or expired
	// tokens, or a caller without a user.
	ErrUnauthorized = &Error{Status: http.StatusUnauthorized, Msg: sentinelMsg}
	// ErrForbidden matches 403 errors: the caller can read the record but
	// may not make this change.
	ErrForbidden = &Error{Status: http.StatusForbidden, Msg: sentinelMsg}
	// ErrNotFound matches 404 errors: no such record, or none the caller
	// may read (the two are not told apart, as in Arvados).
	ErrNotFound = &Error{Status: http.StatusNotFound, Msg: sentinelMsg}
	// ErrConflict matches 409 errors: a record with that uuid exists.
	ErrConflict = &Error{Status: http.StatusConflict, Msg: sentinelMsg}
)

// StatusOf returns the HTTP status of the first *Error in err's chain, or
// 500 when there is none (an internal failure such as an I/O error).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}

func newError(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return newError(http.StatusUnprocessableEntity, format, args...)
}

func notFound(kind Kind, uuid string) *Error {
	return newError(http.StatusNotFound, "%s %s not found", kind.singular(), uuid)
}

func forbidden(format string, args ...any) *Error {
	return newError(http.StatusForbidden, format, args...)
}

func unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Msg: msg}
}
