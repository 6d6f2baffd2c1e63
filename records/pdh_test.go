package records

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	m1   = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n"
	pdh1 = "1f4b0bc7583c2a7f9102c395f4ffc5e3+45"
	m2   = ". 37b51d194a7513e45b56f6524f2d51f2+3 0:3:bar\n"
)

func answer(status int, body string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(body)
	}
}

// TestPDH covers the lookup by portable data hash: local first, then all
// remotes in parallel, and the aggregation when no remote wins.
func TestPDH(t *testing.T) {
	b := newFakeCluster(t, idB)
	c := newFakeCluster(t, idC)
	notFound := answer(404, `{"errors":["Path not found"]}`)
	cases := []struct {
		name        string
		localStatus int
		bh, ch      fasthttp.RequestHandler // nil: serve m1
		id          string
		status      int
		winner      string // cluster whose +R hints the answer carries
		wantErr     string
		noRemote    bool
	}{
		{name: "remote winner", localStatus: 404, ch: notFound, status: 200, winner: idB},
		{name: "winner with hints in id", localStatus: 404, ch: notFound, id: pdh1 + "+Kzzzzz", status: 200, winner: idB},
		{name: "winner beats 5xx", localStatus: 404, bh: answer(500, `{"errors":["boom"]}`), status: 200, winner: idC},
		{name: "local has it", localStatus: 200, status: 200, noRemote: true},
		{name: "local error stands", localStatus: 403, status: 403, noRemote: true},
		{name: "mismatch is 502", localStatus: 404, ch: notFound,
			bh:     answer(200, `{"uuid":"`+pdh1+`","portable_data_hash":"`+pdh1+`","manifest_text":". 37b51d194a7513e45b56f6524f2d51f2+3 0:3:bar\n"}`),
			status: 502, wantErr: "does not match"},
		{name: "garbage body is 502", localStatus: 404, ch: notFound, bh: answer(200, `{"manifest_text":"`), status: 502, wantErr: "malformed"},
		{name: "5xx is 502", localStatus: 404, ch: notFound, bh: answer(503, `{}`), status: 502, wantErr: "zbbbb answered 503"},
		{name: "429 is 502", localStatus: 404, ch: notFound, bh: answer(429, `{}`), status: 502},
		{name: "4xx is 422", localStatus: 404, ch: notFound, bh: answer(403, `{}`), status: 422, wantErr: "zbbbb answered 403"},
		{name: "5xx beats 4xx", localStatus: 404, ch: answer(401, `{}`), bh: answer(500, `{}`), status: 502},
		{name: "all 404", localStatus: 404, bh: notFound, ch: notFound, status: 404, wantErr: "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.setOverride(tc.bh)
			c.setOverride(tc.ch)
			b.addCollection("zbbbb-4zz18-000000000000001", m1)
			c.addCollection("zcccc-4zz18-000000000000001", m1)
			nb, nc := len(b.requests()), len(c.requests())
			e := newEnv(t, Config{}, b, c)
			e.local.status = tc.localStatus
			id := tc.id
			if id == "" {
				id = pdh1
			}
			resp := call(e.h, "GET", "/arvados/v1/collections/"+id, nil, "Authorization", "Bearer "+tokA)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode(), tc.status, resp.Body())
			}
			if e.local.calls.Load() != 1 {
				t.Errorf("local calls %d", e.local.calls.Load())
			}
			asked := len(b.requests()) - nb + len(c.requests()) - nc
			if tc.noRemote {
				if asked != 0 {
					t.Errorf("%d remote requests", asked)
				}
				return
			}
			if tc.winner == "" && asked != 2 {
				t.Errorf("%d remote requests, want 2", asked)
			}
			if tc.wantErr != "" {
				errs := errorsOf(t, resp)
				if !strings.Contains(strings.Join(errs, "|"), tc.wantErr) {
					t.Errorf("errors %q want %q", errs, tc.wantErr)
				}
			}
			if tc.winner != "" {
				// The loser may still be on its way: the winner is
				// answered at once. Let it land before the next case.
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if len(b.requests())-nb+len(c.requests())-nc >= 2 {
						break
					}
				}
				rec := decodeJSON(t, resp.Body())
				mt, _ := rec["manifest_text"].(string)
				if !strings.Contains(mt, "+R"+tc.winner+"-") || strings.Contains(mt, "+A") {
					t.Errorf("manifest_text %q not rewritten for %s", mt, tc.winner)
				}
				if rec["portable_data_hash"] != pdh1 {
					t.Errorf("portable_data_hash %v", rec["portable_data_hash"])
				}
				f := map[string]*fakeCluster{idB: b, idC: c}[tc.winner]
				if got, want := f.last(t).Auth, "Bearer "+mustSalt(t, tokA, tc.winner); got != want {
					t.Errorf("token %q want %q", got, want)
				}
			}
		})
	}
}

// TestPDHLoopGuard: a lookup that already went through a proxy is answered
// locally only.
func TestPDHLoopGuard(t *testing.T) {
	b := newFakeCluster(t, idB)
	b.addCollection("zbbbb-4zz18-000000000000001", m1)
	e := newEnv(t, Config{}, b)
	e.local.status = 404
	resp := call(e.h, "GET", "/arvados/v1/collections/"+pdh1, nil, "Via", "HTTP/1.1 keepfed")
	if resp.StatusCode() != 404 || len(b.requests()) != 0 {
		t.Errorf("status %d, %d remote requests", resp.StatusCode(), len(b.requests()))
	}
}
