package remotes

import (
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

func dnsRegistry() *Registry {
	return New(Config{Local: "aaaaa", Clusters: map[string]config.RemoteClusterConfig{"*": {Proxy: true}}, DNSSuffix: "x.example", MaxRequests: 2})
}

func dnsID(i int) string { return "d" + strconv.Itoa(1000+i) }

// In DNS mode the live state stays bounded however many cluster ids are
// asked for, and an entry with a request in flight is never dropped (its
// request slots keep counting).
func TestDNSRemotesEvictIdleOnly(t *testing.T) {
	r := dnsRegistry()
	busy, ok := r.Lookup("busy1")
	require.True(t, ok)
	free := busy.Acquire()
	require.NotNil(t, free)
	idle, _ := r.Lookup("idle1")
	for i := 0; i < 3*maxDNSRemotes; i++ {
		_, ok := r.Lookup(dnsID(i))
		require.True(t, ok)
		assert.LessOrEqual(t, r.Live(), maxDNSRemotes)
	}
	again, ok := r.Lookup("busy1")
	require.True(t, ok)
	assert.Same(t, busy, again, "an entry in use is kept")
	assert.NotNil(t, again.Acquire(), "its second slot")
	assert.Nil(t, again.Acquire(), "MaxRequests still counts the first request's slot")
	other, _ := r.Lookup("idle1")
	assert.NotSame(t, idle, other, "an idle entry was dropped")
	free()
}

// When every entry is in use, a new id gets state of its own for its
// request, neither stored nor breaking the others.
func TestDNSRemotesAllBusy(t *testing.T) {
	r := dnsRegistry()
	var frees []func()
	for i := 0; i < maxDNSRemotes; i++ {
		rm, ok := r.Lookup(dnsID(i))
		require.True(t, ok)
		frees = append(frees, rm.Acquire(), rm.Acquire()) // both of its slots
	}
	rm, ok := r.Lookup("extra")
	require.True(t, ok)
	assert.Equal(t, "https://extra.x.example", rm.BaseURL)
	assert.Equal(t, maxDNSRemotes, r.Live())
	for i := 0; i < maxDNSRemotes; i++ {
		again, _ := r.Lookup(dnsID(i))
		assert.Nil(t, again.Acquire(), "entry %d kept its state: its slots are still taken", i)
	}
	for _, f := range frees {
		f()
	}
}

func errorResponse(status int, body string) *fasthttp.Response {
	resp := &fasthttp.Response{}
	resp.SetStatusCode(status)
	resp.SetBodyString(body)
	return resp
}

// A remote's error body is quoted only as a well-formed Arvados JSON
// error's first message, cleaned and short; anything else is the status.
func TestReasonQuotesOnlyJSONErrors(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"html", "<html>secret page</html>", 503, "Service Unavailable"},
		{"text", "block not found\n", 404, "Not Found"},
		{"empty", "", 502, "Bad Gateway"},
		{"json", `{"errors":["signature expired"]}`, 403, "signature expired"},
		{"json first only", `{"errors":["one","two"]}`, 403, "one"},
		{"json no errors", `{"errors":[]}`, 500, "Internal Server Error"},
		{"json other shape", `{"message":"secret"}`, 500, "Internal Server Error"},
		{"control characters", "{\"errors\":[\"a\\u0000b\\r\\nc\\u001b[31md\"]}", 403, "abc[31md"},
		{"only control characters", "{\"errors\":[\"\\n\\t\"]}", 403, "Forbidden"},
		{"long", `{"errors":["` + strings.Repeat("x", 500) + `"]}`, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Reason(errorResponse(c.status, c.body))
			if c.name == "long" {
				assert.Equal(t, strings.Repeat("x", MaxReasonLen), got)
				return
			}
			assert.Equal(t, c.want, got)
		})
	}
}

// FuzzErrorMessage: whatever the body, a quoted message is short,
// printable and non-empty.
func FuzzErrorMessage(f *testing.F) {
	for _, s := range []string{`{"errors":["x"]}`, `{"errors":[]}`, `<html>`, "", `{"errors":["\u0000"]}`, `{"errors":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, ok := ErrorMessage(body)
		if !ok {
			if msg != "" {
				t.Fatalf("not ok but %q", msg)
			}
			return
		}
		if msg == "" || len(msg) > MaxReasonLen {
			t.Fatalf("bad length %d", len(msg))
		}
		for _, r := range msg {
			if !unicode.IsPrint(r) {
				t.Fatalf("non-printable %q in %q", r, msg)
			}
		}
	})
}
