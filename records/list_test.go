package records

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	collA  = "zaaaa-4zz18-000000000000001"
	collB  = "zbbbb-4zz18-000000000000001"
	collB2 = "zbbbb-4zz18-000000000000002"
	collC  = "zcccc-4zz18-000000000000001"
)

// localLister answers uuid lists from the local "database".
func localLister(recs map[string]string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var filters [][]json.RawMessage
		_ = json.Unmarshal(ctx.QueryArgs().Peek("filters"), &filters)
		items := []any{}
		for _, f := range filters {
			var us []string
			_ = json.Unmarshal(f[2], &us)
			for _, u := range us {
				if m, ok := recs[u]; ok {
					items = append(items, map[string]any{"uuid": u, "manifest_text": m})
				}
			}
		}
		writeJSON(ctx, 200, map[string]any{"kind": "arvados#collectionList", "items": items, "items_available": len(items)})
	}
}

func filtersQuery(f string, extra ...string) string {
	q := "/arvados/v1/collections?filters=" + urlq(f)
	for _, x := range extra {
		q += "&" + x
	}
	return q
}

// TestFederatedList splits a uuid list over three clusters and merges the
// answers; collections from remotes carry +R hints.
func TestFederatedList(t *testing.T) {
	b := newFakeCluster(t, idB)
	c := newFakeCluster(t, idC)
	b.addCollection(collB, m1)
	b.addCollection(collB2, m2)
	c.addCollection(collC, m1)
	e := newEnv(t, Config{}, b, c)
	e.local.fn = localLister(map[string]string{collA: m2})
	uri := filtersQuery(`[["uuid","in",["`+collA+`","`+collB+`","`+collC+`"]],["uuid","in",["`+collA+`","`+collB+`","`+collC+`","`+collB2+`"]]]`,
		"count=none", "select="+urlq(`["uuid","manifest_text"]`), "api_token="+tokA)
	resp := call(e.h, "GET", uri, nil)
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
	}
	var got struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(resp.Body(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "arvados#collectionList" || len(got.Items) != 3 {
		t.Fatalf("kind %q, %d items: %s", got.Kind, len(got.Items), resp.Body())
	}
	byUUID := map[string]string{}
	for _, it := range got.Items {
		byUUID[it["uuid"].(string)], _ = it["manifest_text"].(string)
	}
	if byUUID[collA] != m2 {
		t.Errorf("local item %q", byUUID[collA])
	}
	if !strings.Contains(byUUID[collB], "+Rzbbbb-") || !strings.Contains(byUUID[collC], "+Rzcccc-") {
		t.Errorf("remote items not rewritten: %q %q", byUUID[collB], byUUID[collC])
	}
	r := b.last(t)
	if r.Method != "POST" || r.Auth != "Bearer "+mustSalt(t, tokA, idB) || r.Query != "" {
		t.Errorf("remote request %s auth %q query %q", r.Method, r.Auth, r.Query)
	}
	var form fasthttp.Args
	form.ParseBytes(r.Body)
	if string(form.Peek("_method")) != "GET" || string(form.Peek("count")) != "none" ||
		string(form.Peek("filters")) != `[["uuid","in",["`+collB+`"]]]` || string(form.Peek("select")) != `["uuid","manifest_text"]` ||
		form.Has("api_token") {
		t.Errorf("remote form %q", r.Body)
	}
	if e.local.calls.Load() != 1 {
		t.Errorf("local calls %d", e.local.calls.Load())
	}
}

// TestFederatedListRepeats asks again for uuids a cluster left out, while
// it makes progress.
func TestFederatedListRepeats(t *testing.T) {
	b := newFakeCluster(t, idB)
	c := newFakeCluster(t, idC)
	c.addCollection(collC, m1)
	var n atomic.Int64
	b.setOverride(func(ctx *fasthttp.RequestCtx) {
		var filters [][]json.RawMessage
		_ = json.Unmarshal(ctx.PostArgs().Peek("filters"), &filters)
		var us []string
		_ = json.Unmarshal(filters[0][2], &us)
		n.Add(1)
		// One item per page.
		writeJSON(ctx, 200, map[string]any{"kind": "arvados#workflowList", "items": []any{map[string]any{"uuid": us[0]}}})
	})
	e := newEnv(t, Config{}, b, c)
	resp := call(e.h, "GET", strings.Replace(filtersQuery(`[["uuid","in",["zbbbb-7fd4e-000000000000001","zbbbb-7fd4e-000000000000002","zcccc-7fd4e-000000000000003"]]]`), "collections", "workflows", 1), nil)
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
	}
	if n.Load() != 2 || strings.Count(string(resp.Body()), `"uuid"`) != 2 {
		t.Errorf("%d requests to B; body %s", n.Load(), resp.Body())
	}
}

// TestFederatedListLimits: the limits of a federated list are 400 and
// nothing is contacted; a list naming one remote cluster goes there as it
// is; a failing cluster is 502.
func TestFederatedListLimits(t *testing.T) {
	b := newFakeCluster(t, idB)
	c := newFakeCluster(t, idC)
	two := `[["uuid","in",["` + collB + `","` + collC + `"]]]`
	cases := []struct {
		name, uri string
		max       int
		status    int
		wantErr   string
	}{
		{"count exact", filtersQuery(two, "count=exact"), 0, 400, "count"},
		{"limit", filtersQuery(two, "limit=10"), 0, 400, "limit"},
		{"offset", filtersQuery(two, "offset=1"), 0, 400, "offset"},
		{"order", filtersQuery(two, "order=name"), 0, 400, "order"},
		{"select without uuid", filtersQuery(two, "select="+urlq(`["name"]`)), 0, 400, "select"},
		{"too many", filtersQuery(two), 1, 400, "more than 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{MaxItemsPerResponse: tc.max}, b, c)
			resp := call(e.h, "GET", tc.uri, nil)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
			}
			if errs := errorsOf(t, resp); !strings.Contains(strings.Join(errs, ""), tc.wantErr) {
				t.Errorf("errors %q", errs)
			}
		})
	}
	if b.ln.n.Load()+c.ln.n.Load() != 0 {
		t.Fatal("remote contacted")
	}
	e := newEnv(t, Config{}, b, c)
	one := filtersQuery(`[["uuid","=","`+collB+`"]]`, "limit=5", "order=name")
	if resp := call(e.h, "GET", one, nil); resp.StatusCode() != 200 || b.last(t).Method != "GET" || !strings.Contains(b.last(t).Query, "limit=5") {
		t.Errorf("single cluster: %d %+v", resp.StatusCode(), b.last(t))
	}
	c.setOverride(answer(500, `{"errors":["db down"]}`))
	resp := call(e.h, "GET", filtersQuery(two), nil)
	if resp.StatusCode() != 502 {
		t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
	}
	if errs := errorsOf(t, resp); len(errs) != 1 || !strings.Contains(errs[0], "zcccc answered 500: db down") {
		t.Errorf("errors %q", errs)
	}
}

// TestFederatedListAmplification: no more than MaxRequestAmplification
// clusters are queried at once.
func TestFederatedListAmplification(t *testing.T) {
	var inFlight, peak atomic.Int64
	slow := func(ctx *fasthttp.RequestCtx) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		inFlight.Add(-1)
		writeJSON(ctx, 200, map[string]any{"kind": "arvados#groupList", "items": []any{}})
	}
	var fakes []*fakeCluster
	var uuids []string
	for _, id := range []string{"zbbbb", "zcccc", "zdddd", "zeeee"} {
		f := newFakeCluster(t, id)
		f.setOverride(slow)
		fakes = append(fakes, f)
		uuids = append(uuids, `"`+id+`-j7d0g-000000000000001"`)
	}
	for _, amp := range []int{1, 2} {
		peak.Store(0)
		e := newEnv(t, Config{MaxRequestAmplification: amp}, fakes...)
		resp := call(e.h, "GET", "/arvados/v1/groups?filters="+urlq(`[["uuid","in",[`+strings.Join(uuids, ",")+`]]]`), nil)
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
		}
		if p := peak.Load(); p > int64(amp) || p == 0 {
			t.Errorf("amplification %d: peak %d concurrent requests", amp, p)
		}
	}
}
