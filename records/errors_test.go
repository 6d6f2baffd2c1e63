package records

import (
	"errors"
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRenderError(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	cases := []struct {
		err    error
		status int
		body   string
	}{
		{errorf(404, "no proxy available for cluster %s", "zzzzz"), 404, `{"errors":["no proxy available for cluster zzzzz"]}` + "\n"},
		{fmt.Errorf("forward: %w", wrapError(502, "request to cluster zbbbb failed", cause)), 502, `{"errors":["request to cluster zbbbb failed"]}` + "\n"},
		{&httpError{status: 502, msgs: []string{"a", "b"}}, 502, `{"errors":["a","b"]}` + "\n"},
		{errors.New("secret detail"), 500, `{"errors":["internal server error"]}` + "\n"},
	}
	for _, tc := range cases {
		resp := call(func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("Content-Encoding", "gzip")
			ctx.SetBodyString("partial")
			renderError(ctx, tc.err)
		}, "GET", "/", nil)
		if resp.StatusCode() != tc.status || string(resp.Body()) != tc.body ||
			string(resp.Header.ContentType()) != "application/json" ||
			string(resp.Header.Peek("X-Content-Type-Options")) != "nosniff" || len(resp.Header.ContentEncoding()) != 0 {
			t.Errorf("%v: %d %q", tc.err, resp.StatusCode(), resp.Body())
		}
	}
	if !errors.Is(cases[1].err, cause) {
		t.Error("cause not reachable")
	}
}
