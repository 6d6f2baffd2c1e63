package records

import (
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func newRequest(method, uri, ct string, body []byte) *fasthttp.Request {
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if ct != "" {
		req.Header.SetContentType(ct)
	}
	req.SetBody(body)
	return req
}

func TestClassify(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	inBC := urlq(`[["uuid","in",["zbbbb-j7d0g-000000000000001","zcccc-j7d0g-000000000000001"]]]`)
	cases := []struct {
		name, method, uri, ct, body string
		kind                        routeKind
		cluster, pdh                string
		collection                  bool
		status                      int
	}{
		{"remote workflow", "GET", "/arvados/v1/workflows/zbbbb-7fd4e-000000000000001", "", "", routeRemote, "zbbbb", "", false, 0},
		{"remote any type", "DELETE", "/arvados/v1/virtual_machines/zbbbb-2x53u-000000000000001", "", "", routeRemote, "zbbbb", "", false, 0},
		{"remote sub path", "POST", "/arvados/v1/container_requests/zbbbb-xvhdp-000000000000001/container_status", "", "", routeRemote, "zbbbb", "", false, 0},
		{"remote collection", "PATCH", "/arvados/v1/collections/zbbbb-4zz18-000000000000001", "", "", routeRemote, "zbbbb", "", true, 0},
		{"local uuid", "GET", "/arvados/v1/workflows/zaaaa-7fd4e-000000000000001", "", "", routeLocal, "", "", false, 0},
		{"not a uuid", "GET", "/arvados/v1/users/current", "", "", routeLocal, "", "", false, 0},
		{"bad cluster chars", "GET", "/arvados/v1/workflows/ZBBBB-7fd4e-000000000000001", "", "", routeLocal, "", "", false, 0},
		{"not api", "GET", "/zbbbb-7fd4e-000000000000001", "", "", routeLocal, "", "", false, 0},
		{"pdh", "GET", "/arvados/v1/collections/" + pdh1, "", "", routePDH, "", pdh1, true, 0},
		{"pdh hints", "GET", "/arvados/v1/collections/" + strings.ToUpper(pdh1[:32]) + pdh1[32:] + "+Kzbbbb", "", "", routePDH, "", pdh1, true, 0},
		{"pdh via _method", "POST", "/arvados/v1/collections/" + pdh1 + "?_method=GET", "", "", routePDH, "", pdh1, true, 0},
		{"pdh delete is local", "DELETE", "/arvados/v1/collections/" + pdh1, "", "", routeLocal, "", "", true, 0},
		{"pdh no size", "GET", "/arvados/v1/collections/" + pdh1[:33], "", "", routeLocal, "", "", true, 0},
		{"create query", "POST", "/arvados/v1/links?cluster_id=zbbbb", "", "", routeRemote, "zbbbb", "", false, 0},
		{"create form", "POST", "/arvados/v1/links", form, "cluster_id=zcccc&link=%7B%7D", routeRemote, "zcccc", "", false, 0},
		{"create json", "POST", "/arvados/v1/collections", "application/json", `{"collection":{"cluster_id":"zxxxx"},"cluster_id":"zcccc"}`, routeRemote, "zcccc", "", true, 0},
		{"create local", "POST", "/arvados/v1/links", "application/json", `{"cluster_id":"zaaaa"}`, routeLocal, "", "", false, 0},
		{"create nested only", "POST", "/arvados/v1/links", "application/json", `{"link":{"cluster_id":"zcccc"}}`, routeLocal, "", "", false, 0},
		{"list one remote", "GET", "/arvados/v1/groups?filters=" + urlq(`[["uuid","=","zbbbb-j7d0g-000000000000001"]]`), "", "", routeRemote, "zbbbb", "", false, 0},
		{"list split", "GET", "/arvados/v1/groups?filters=" + inBC, "", "", routeList, "", "", false, 0},
		{"list split post", "POST", "/arvados/v1/groups", form, "_method=GET&filters=" + inBC, routeList, "", "", false, 0},
		{"list other filter", "GET", "/arvados/v1/groups?filters=" + urlq(`[["uuid","in",["zbbbb-j7d0g-000000000000001","zcccc-j7d0g-000000000000001"]],["name","=","x"]]`), "", "", routeLocal, "", "", false, 0},
		{"list intersect", "GET", "/arvados/v1/groups?filters=" + urlq(`[["uuid","in",["zbbbb-j7d0g-000000000000001","zcccc-j7d0g-000000000000001"]],["uuid","=","zcccc-j7d0g-000000000000001"]]`), "", "", routeRemote, "zcccc", "", false, 0},
		{"list count", "GET", "/arvados/v1/groups?count=exact&filters=" + inBC, "", "", routeLocal, "", "", false, 400},
		{"list garbage filters", "GET", "/arvados/v1/groups?filters=%5B", "", "", routeLocal, "", "", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := classify(newRequest(tc.method, tc.uri, tc.ct, []byte(tc.body)), localID, 1000)
			if tc.status != 0 {
				if statusOf(err) != tc.status {
					t.Fatalf("err %v want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rt.kind != tc.kind || rt.cluster != tc.cluster || rt.pdh != tc.pdh || rt.collection != tc.collection {
				t.Errorf("got %+v", rt)
			}
			if tc.kind == routeList {
				var cs []string
				for _, g := range rt.uuids {
					cs = append(cs, g.cluster)
				}
				if !slices.Equal(cs, []string{"zbbbb", "zcccc"}) {
					t.Errorf("clusters %v", cs)
				}
			}
		})
	}
}

// FuzzClassify: the classifier never panics, and what it returns is
// consistent (a remote route names a valid non-local cluster id or a
// cluster_id parameter; a PDH route carries hash+size).
func FuzzClassify(f *testing.F) {
	f.Add("GET", "/arvados/v1/workflows/zbbbb-7fd4e-000000000000001", "", "")
	f.Add("GET", "/arvados/v1/collections/"+pdh1+"+Kx", "", "")
	f.Add("POST", "/arvados/v1/links?cluster_id=zbbbb", "application/json", `{"cluster_id":"zcccc"}`)
	f.Add("POST", "/arvados/v1/groups", "application/x-www-form-urlencoded", "_method=GET&filters=%5B%5B%22uuid%22%2C%22in%22%2C%5B%22zbbbb-j7d0g-000000000000001%22%2C%22zcccc-j7d0g-000000000000001%22%5D%5D%5D")
	f.Add("GET", "/arvados/v1/groups?filters=[[\"uuid\",\"=\",\"zbbbb-j7d0g-000000000000001\"]]&limit=1", "", "")
	f.Fuzz(func(t *testing.T, method, uri, ct, body string) {
		if method == "" || strings.ContainsAny(method, " \r\n") {
			return
		}
		req := newRequest(method, uri, ct, []byte(body))
		rt, err := classify(req, localID, 10)
		if err != nil {
			if s := statusOf(err); s != 400 {
				t.Fatalf("status %d", s)
			}
			return
		}
		switch rt.kind {
		case routeRemote:
			if rt.cluster == "" || rt.cluster == localID {
				t.Fatalf("remote route to %q", rt.cluster)
			}
		case routePDH:
			if len(rt.pdh) < 34 || rt.pdh[32] != '+' {
				t.Fatalf("pdh %q", rt.pdh)
			}
		case routeList:
			if len(rt.uuids) < 2 {
				t.Fatalf("list over %d clusters", len(rt.uuids))
			}
		}
	})
}
