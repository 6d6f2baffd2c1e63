package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/valyala/fasthttp"
)

// httpError is an error with the HTTP status it is answered with. Msgs are
// what the client reads in {"errors":[...]}; err, when set, is the cause
// (logged and reachable with errors.Is/As, never sent).
type httpError struct {
	status int
	msgs   []string
	err    error
}

func (e *httpError) Error() string {
	s := fmt.Sprint(e.msgs)
	if len(e.msgs) == 1 {
		s = e.msgs[0]
	}
	if e.err != nil {
		return s + ": " + e.err.Error()
	}
	return s
}

func (e *httpError) Unwrap() error { return e.err }

// errorf returns an *httpError with a formatted client message.
func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msgs: []string{fmt.Sprintf(format, args...)}}
}

// wrapError returns an *httpError whose client message is msg and whose
// cause is err.
func wrapError(status int, msg string, err error) *httpError {
	return &httpError{status: status, msgs: []string{msg}, err: err}
}

// statusOf returns the status err is answered with: the status of the
// first *httpError in its chain, else 500.
func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) && he.status != 0 {
		return he.status
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Errors []string `json:"errors"`
}

// renderError writes err as the response: its status and
// {"errors":[...]} as application/json with X-Content-Type-Options:
// nosniff. It is the only place records writes an error body.
func renderError(ctx *fasthttp.RequestCtx, err error) {
	msgs := []string{"internal server error"}
	var he *httpError
	if errors.As(err, &he) && len(he.msgs) > 0 {
		msgs = he.msgs
	}
	body, _ := json.Marshal(errorBody{Errors: msgs})
	ctx.Response.ResetBody()
	ctx.Response.Header.Del("Content-Encoding")
	ctx.Response.Header.Del("Content-Length")
	ctx.SetStatusCode(statusOf(err))
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetBody(append(body, '\n'))
}
