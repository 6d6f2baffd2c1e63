package store

import (
	"errors"
	"testing"
)

func TestErrors(t *testing.T) {
	e := notFound(Collections, "zzzzz-4zz18-000000000000001")
	if !errors.Is(e, ErrNotFound) || errors.Is(e, ErrForbidden) {
		t.Fatal("errors.Is by status")
	}
	var se *Error
	if !errors.As(wrapTx("op", e), &se) || se.HTTPStatus() != 404 {
		t.Fatal("errors.As")
	}
	if StatusOf(errors.New("disk on fire")) != 500 {
		t.Fatal("StatusOf plain error")
	}
	if got := wrapTx("op", errors.New("x")).Error(); got != "store: op: x" {
		t.Fatal(got)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		msg    string
	}{
		{notFound(Collections, "zzzzz-4zz18-000000000000001"), 404, "collection zzzzz-4zz18-000000000000001 not found"},
		{badRequest("unknown attribute %q for %s", "x", "group"), 422, `unknown attribute "x" for group`},
		{forbidden("forbidden: %s", "no"), 403, "forbidden: no"},
		{unauthorized("not logged in"), 401, "not logged in"},
		{&Error{Status: 500, Msg: "m", Err: errors.New("cause")}, 500, "m: cause"},
	} {
		if StatusOf(c.err) != c.status || c.err.Error() != c.msg {
			t.Errorf("%v: status %d, want %d %q", c.err, StatusOf(c.err), c.status, c.msg)
		}
	}
	if errors.Is(ErrNotFound, ErrBadRequest) {
		t.Error("sentinels match each other")
	}
}
