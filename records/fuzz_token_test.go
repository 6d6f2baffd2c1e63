package records

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzExtractToken: any Authorization header, query, cookie and form body
// yields a token or "", never a panic; a Bearer token is taken as it is.
func FuzzExtractToken(f *testing.F) {
	f.Add("Bearer v2/zzzzz-gj3su-000000000000001/secret", "", "", "", "")
	f.Add("OAuth2 abc", "api_token=x", "", "", "")
	f.Add("Basic dTpwYXNz", "", "", "", "")
	f.Add("Basic !!!", "api_token=%zz", "YWJj", "application/x-www-form-urlencoded", "api_token=formtok&x=1")
	f.Add("", "", "=", "application/x-www-form-urlencoded; charset=utf-8", "api_token=")
	f.Add("Bearer ", "api_token=a&api_token=b", "", "", "")
	f.Fuzz(func(t *testing.T, auth, query, cookie, ctype, body string) {
		var req fasthttp.Request
		req.SetRequestURI("/arvados/v1/collections?" + query)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != "" {
			req.Header.SetCookie("arvados_api_token", cookie)
		}
		if ctype != "" {
			req.Header.SetContentType(ctype)
		}
		req.SetBodyString(body)
		tok := ExtractToken(&req)
		// a Bearer header wins over every other source, as it is
		// (fasthttp keeps header values without surrounding blanks)
		if v, ok := strings.CutPrefix(string(req.Header.Peek("Authorization")), "Bearer "); ok {
			if v = strings.TrimSpace(v); v != "" && tok != v {
				t.Fatalf("Authorization Bearer %q gave token %q", v, tok)
			}
		}
	})
}
