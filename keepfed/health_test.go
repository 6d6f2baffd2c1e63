package keepfed

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestManagementEndpoints(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	noMgmt := testConfig(t, "yyyyy")
	noMgmt.ManagementToken = ""
	tcNo := startCluster(t, noMgmt, Options{})
	cases := []struct {
		name, url, path, token string
		status                 int
	}{
		{"ping ok", tc.url, "/_health/ping", testMgmtToken, 200},
		{"ping no token", tc.url, "/_health/ping", "", 401},
		{"ping wrong token", tc.url, "/_health/ping", "nope", 401},
		{"ping root token", tc.url, "/_health/ping", testRootToken, 401},
		{"metrics ok", tc.url, "/metrics", testMgmtToken, 200},
		{"metrics no token", tc.url, "/metrics", "", 401},
		{"metrics wrong token", tc.url, "/metrics", "nope", 401},
		{"disabled ping", tcNo.url, "/_health/ping", "anything", 404},
		{"disabled metrics", tcNo.url, "/metrics", "", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, http.MethodGet, c.url+c.path, c.token, nil)
			if c.status != 200 {
				assertJSONError(t, r, c.status, "")
				return
			}
			assert.Equal(t, 200, r.status)
			if c.path == "/_health/ping" {
				assert.JSONEq(t, `{"health":"OK"}`, string(r.body))
			} else {
				assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"))
				assert.Contains(t, string(r.body), "# TYPE keepfed_http_requests_total counter")
				assert.Contains(t, string(r.body), `keepfed_http_requests_total{route="health",code="2xx"}`)
			}
		})
	}
}
