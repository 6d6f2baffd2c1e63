package keepfed

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingListener counts the connections it accepts and answers
// nothing useful: it stands for a cluster that must never be contacted.
type countingListener struct {
	ln      net.Listener
	accepts atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cl.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return cl
}

// liveRemotes is how many remote clusters the server holds a client for:
// a cluster without one has never been dialled (Remotes.Lookup creates
// it before any connection; the record proxy and the identity layer go
// through Remotes.resolve, which refuses the same ids).
func liveRemotes(s *Server) int {
	return s.remotes.Live()
}

// TestNeverContactUnknown: +R hints, uuids, cluster_id values and tokens
// naming clusters that are not configured, malformed cluster ids, and in
// DNS mode ids that do not make a host name under the suffix, are refused
// with 400/401/403/404 and no outbound connection. Proof of "no
// connection": the only configured remote is a listener that counts
// accepts (must stay 0), and the server creates no remote client for any
// of these ids (liveRemotes stays 0; every outbound block, discovery or
// validation request goes through one).
func TestNeverContactUnknown(t *testing.T) {
	guard := newCountingListener(t)
	for _, mode := range []string{"static", "dns"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t, "xhome")
			cfg.API.KeepServiceRequestTimeout = config.Duration(time.Second)
			cfg.API.RequestTimeout = config.Duration(time.Second)
			cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
				"xknwn": {Host: guard.ln.Addr().String(), Scheme: "http", Proxy: true},
			}
			if mode == "dns" {
				// RFC 6761: .invalid never resolves; no request below may
				// even get as far as a lookup
				cfg.RemoteClusters["*"] = config.RemoteClusterConfig{Proxy: true, Scheme: "http"}
				cfg.KeepFed.RemoteDNSSuffix = "keepfed.invalid"
			}
			home := startFullCluster(t, cfg, nil)
			token := home.issue(t, "u@example.com")
			hash := md5hex([]byte("abc"))
			sig := "+A" + strings.Repeat("a", 40) + "@" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 16)
			remoteHint := func(id string) string { return hash + "+3+R" + id + "-" + sig[2:] }

			type tc struct {
				name, method, path, tok string
				body                    string
				want                    []int
			}
			var cases []tc
			// malformed ids: refused in both modes
			for _, id := range []string{"ZZZZZ", "zz.zz", "zzzz", "zzzzzz", "zz/zz", "..", "zz%2e", "xk\u00e9wn"} {
				cases = append(cases,
					tc{"+R " + id, "GET", "/" + url.PathEscape(remoteHint(id)), token, "", []int{400}},
					tc{"+R HEAD " + id, "HEAD", "/" + url.PathEscape(remoteHint(id)), token, "", []int{400}},
					tc{"uuid " + id, "GET", "/arvados/v1/collections/" + url.PathEscape(id+"-4zz18-000000000000001"), token, "", []int{400, 404}},
					tc{"cluster_id " + id, "POST", "/arvados/v1/collections?cluster_id=" + url.QueryEscape(id), token, `{"collection":{}}`, []int{400, 404}},
					tc{"token of " + id, "GET", "/arvados/v1/users/current", "v2/" + id + "-gj3su-000000000000001/" + strings.Repeat("s", 40), "", []int{401, 400}},
				)
			}
			if mode == "static" {
				// well-formed but not configured
				id := "xnone"
				cases = append(cases,
					tc{"+R " + id, "GET", "/" + remoteHint(id), token, "", []int{400}},
					tc{"+R HEAD " + id, "HEAD", "/" + remoteHint(id), token, "", []int{400}},
					tc{"+R local copy " + id, "HEAD", "/" + remoteHint(id), token, "", []int{400}},
					tc{"uuid " + id, "GET", "/arvados/v1/collections/" + id + "-4zz18-000000000000001", token, "", []int{404}},
					tc{"update " + id, "PUT", "/arvados/v1/collections/" + id + "-4zz18-000000000000001", token, `{"collection":{"name":"x"}}`, []int{404}},
					tc{"cluster_id " + id, "POST", "/arvados/v1/collections?cluster_id=" + id, token, `{"collection":{}}`, []int{404}},
					tc{"token of " + id, "GET", "/arvados/v1/users/current", "v2/" + id + "-gj3su-000000000000001/" + strings.Repeat("s", 40), "", []int{401}},
					tc{"PUT with token of " + id, "PUT", "/" + md5hex([]byte("xyz")), "v2/" + id + "-gj3su-000000000000001/" + strings.Repeat("s", 40), "xyz", []int{401, 403}},
					tc{"list naming " + id, "GET", "/arvados/v1/collections?filters=" + url.QueryEscape(`[["uuid","in",["`+id+`-4zz18-000000000000001","xknwx-4zz18-000000000000001"]]]`), token, "", []int{400, 404}},
				)
			}
			for _, c := range cases {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				r := do(t, c.method, home.url+c.path, c.tok, body, "Content-Type", "application/json")
				assert.Contains(t, c.want, r.status, "%s: %s %s: %s", c.name, c.method, c.path, r.body)
				if c.method != "HEAD" {
					assertJSONError(t, r, r.status, "")
				}
			}
			assert.Zero(t, guard.accepts.Load(), "the configured remote was contacted")
			assert.Zero(t, liveRemotes(home.srv), "a remote client was created for an unknown cluster")
			t.Logf("%s: %d requests naming unknown or malformed clusters, 0 outbound", mode, len(cases))
		})
	}
}
