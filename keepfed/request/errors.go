// Package request holds what every keepfed handler shares about one
// request: the Handler type, errors that carry their HTTP status and the one
// function that renders them, request ids, and the values the middleware
// attaches to a request (its API token and its concurrency slot).
package request

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/valyala/fasthttp"
)

// Handler is a request handler that reports failure by returning an error
// instead of writing an error body itself. The router renders the error
// (see HTTPError) in one place.
type Handler func(ctx *fasthttp.RequestCtx) error

// HTTPError is an error with the HTTP status it should be answered with.
// Msg is what the client reads in {"errors":[Msg]}; Err, when set, is the
// underlying cause (logged, and reachable with errors.Is/As, but not sent).
type HTTPError struct {
	Status int
	Msg    string
	Err    error
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// Errorf returns an *HTTPError with the given status and formatted message.
func Errorf(status int, format string, args ...any) *HTTPError {
	return &HTTPError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// NewError returns an *HTTPError with a fixed message and no cause.
func NewError(status int, msg string) *HTTPError {
	return &HTTPError{Status: status, Msg: msg}
}

// WrapError returns an *HTTPError whose client message is msg and whose
// cause is err.
func WrapError(status int, msg string, err error) *HTTPError {
	return &HTTPError{Status: status, Msg: msg, Err: err}
}

// StatusOf returns the HTTP status an error is answered with: the status of
// the first *HTTPError in its chain, else 500.
func StatusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) && he.Status != 0 {
		return he.Status
	}
	return http.StatusInternalServerError
}

// Message returns the text sent to the client for err. Errors that are
// not *HTTPError are internal: the client gets a generic text, the log gets
// the detail.
func Message(err error) string {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Msg
	}
	return "internal server error"
}

// ErrorBody is Arvados's error body, {"errors":[...]}.
type ErrorBody struct {
	Errors []string `json:"errors"`
}

// RenderError writes err as the response: its status, and the body
// {"errors":["<message>"]} as JSON with X-Content-Type-Options: nosniff.
// It is the only place an error body is written; the request id stays in
// the X-Request-Id header set by the request id middleware.
func RenderError(ctx *fasthttp.RequestCtx, err error) {
	status := StatusOf(err)
	body, _ := json.Marshal(ErrorBody{Errors: []string{Message(err)}})
	ctx.Response.ResetBody()
	ctx.Response.Header.Del("Content-Length")
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetBody(append(body, '\n'))
	ctx.SetUserValue(errKey{}, err)
}

// errKey stores the rendered error on the request for the access log.
type errKey struct{}

// Rendered returns the error RenderError wrote for this request, if any.
func Rendered(ctx *fasthttp.RequestCtx) error {
	err, _ := ctx.UserValue(errKey{}).(error)
	return err
}
