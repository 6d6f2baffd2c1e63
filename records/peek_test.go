package records

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/valyala/fasthttp"
)

// argsValue is what fasthttp.Args makes of the form body: the reference
// FormValue must agree with.
func argsValue(body []byte, name string) ([]byte, bool) {
	var a fasthttp.Args
	a.ParseBytes(body)
	if !a.Has(name) {
		return nil, false
	}
	return append([]byte{}, a.Peek(name)...), true
}

// mapValue is what decoding the body into a map gives: the reference
// JSONTopString must agree with.
func mapValue(body []byte, name string) (string, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return "", false
	}
	raw, ok := top[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func TestFormValue(t *testing.T) {
	cases := []struct{ name, body, key, want string }{
		{"plain", "a=1&api_token=tok&b=2", "api_token", "tok"},
		{"first of two", "api_token=one&api_token=two", "api_token", "one"},
		{"escaped key", "api%5Ftoken=tok", "api_token", "tok"},
		{"plus is space", "q=a+b%20c", "q", "a b c"},
		{"bad escape kept", "q=100%&r=%zz", "q", "100%"},
		{"no value", "flag&x=1", "flag", ""},
		{"absent", "x=1", "api_token", ""},
		{"empty body", "", "x", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := FormValue([]byte(c.body), c.key)
			want, wantOK := argsValue([]byte(c.body), c.key)
			assert.Equal(t, wantOK, ok, "found as fasthttp.Args finds it")
			assert.Equal(t, string(want), string(got))
			assert.Equal(t, c.want, string(got))
		})
	}
}

func TestAppendFormDecodedInPlace(t *testing.T) {
	src := []byte("%7B%22manifest_text%22%3A%22.+x%5Cn%22%7D")
	got := AppendFormDecoded(src[:0], src)
	assert.Equal(t, `{"manifest_text":". x\n"}`, string(got))
	assert.Same(t, &src[0], &got[0], "decoded where it was")
}

func TestJSONTopString(t *testing.T) {
	cases := []struct {
		name, body, key, want string
		ok                    bool
	}{
		{"plain", `{"a":1,"api_token":"tok"}`, "api_token", "tok", true},
		{"last of two", `{"api_token":"one","api_token":"two"}`, "api_token", "two", true},
		{"escaped key", `{"api\u005ftoken":"tok"}`, "api_token", "tok", true},
		{"nested is not top level", `{"x":{"api_token":"tok"},"y":[{"api_token":"t"}]}`, "api_token", "", false},
		{"not a string", `{"api_token":5}`, "api_token", "", false},
		{"after scalars and spaces", `{ "a" : true , "b":null,"c":-1.5e3, "api_token" : "t\"k" }`, "api_token", `t"k`, true},
		{"not an object", `["api_token","x"]`, "api_token", "", false},
		{"not JSON", `{"api_token":"tok"`, "api_token", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := JSONTopString([]byte(c.body), c.key)
			want, wantOK := mapValue([]byte(c.body), c.key)
			assert.Equal(t, wantOK, ok, "found as encoding/json finds it")
			assert.Equal(t, want, got)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.want, got)
		})
	}
}

// FuzzFormValue: FormValue reads a form as fasthttp.Args does, and
// decoding in place gives what decoding into a new buffer gives.
func FuzzFormValue(f *testing.F) {
	f.Add([]byte("a=1&api_token=tok"), "api_token")
	f.Add([]byte("api%5Ftoken=%zz+%41&api_token=2"), "api_token")
	f.Add([]byte("collection=%7B%22manifest_text%22%3A%22.%22%7D"), "collection")
	f.Add([]byte("&&=&x"), "x")
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		if len(name) == 0 || len(name) > 21 {
			return
		}
		got, ok := FormValue(body, name)
		want, wantOK := argsValue(body, name)
		if ok != wantOK || string(got) != string(want) {
			t.Fatalf("FormValue(%q, %q) = %q, %v; fasthttp.Args: %q, %v", body, name, got, ok, want, wantOK)
		}
		fresh := AppendFormDecoded(nil, body)
		cp := append([]byte(nil), body...)
		if in := AppendFormDecoded(cp[:0], cp); string(in) != string(fresh) {
			t.Fatalf("in place %q, fresh %q", in, fresh)
		}
	})
}

// FuzzJSONTopString: JSONTopString reads a body as decoding it into a
// map does.
func FuzzJSONTopString(f *testing.F) {
	f.Add([]byte(`{"a":1,"api_token":"tok"}`), "api_token")
	f.Add([]byte(`{"api\u005ftoken":"one","api_token":"two","x":{"api_token":"n"}}`), "api_token")
	f.Add([]byte(`{"cluster_id":"zzzzz","collection":{"manifest_text":". x\n"}}`), "cluster_id")
	f.Add([]byte(` { "k" : [1, {"k":"v"}], "k2":"\ud83d\ude00" } `), "k2")
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		got, ok := JSONTopString(body, name)
		want, wantOK := mapValue(body, name)
		if ok != wantOK || got != want {
			t.Fatalf("JSONTopString(%q, %q) = %q, %v; encoding/json: %q, %v", body, name, got, ok, want, wantOK)
		}
	})
}
