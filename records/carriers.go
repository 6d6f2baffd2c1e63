package records

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/signing"
)

// Token carriers. A client may present its API token in any of these
// places, and keepfed (ExtractToken) accepts each:
//
//   - Authorization: Bearer / OAuth2 <token>, or Basic (the password);
//   - the api_token query parameter;
//   - the arvados_api_token cookie (base64url);
//   - the api_token field of a urlencoded form body, a JSON object body or
//     a multipart/form-data body, whatever the spelling of the media type
//     (case, parameters).
//
// Reader tokens travel as reader_tokens (a JSON array, or reader_tokens[]
// repeated) in the query or any of those bodies. Before a request leaves
// for another cluster, prepare removes every carrier it knows, salts the
// reader tokens for the target, and sends the one salted token in
// Authorization.

// bodyKind is how a request body carries parameters.
type bodyKind uint8

const (
	bodyOther bodyKind = iota
	bodyForm
	bodyJSON
	bodyMultipart
)

// mediaType returns the lowercased media type of a Content-Type value,
// parameters dropped.
func mediaType(ct []byte) string {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(string(ct)))
}

// kindOf classifies a media type. JSON covers the spellings Arvados's
// controller and Rails decode as JSON.
func kindOf(mt string) bodyKind {
	switch {
	case mt == "application/x-www-form-urlencoded":
		return bodyForm
	case mt == "multipart/form-data":
		return bodyMultipart
	case mt == "application/json", mt == "text/x-json", mt == "application/jsonrequest",
		strings.HasSuffix(mt, "+json"):
		return bodyJSON
	}
	return bodyOther
}

// bodyKindOf is the kind of req's body by its Content-Type.
func bodyKindOf(req *fasthttp.Request) bodyKind {
	return kindOf(mediaType(req.Header.ContentType()))
}

// isForm reports whether the request body is URL-encoded form data (any
// spelling of the media type).
func isForm(req *fasthttp.Request) bool { return bodyKindOf(req) == bodyForm }

// ExtractToken returns the request's API token: the first of, in order,
// Authorization Bearer/OAuth2 (scheme case-sensitive, value trimmed) or
// Basic (the password), the api_token query parameter, the
// arvados_api_token cookie (base64url), then the api_token field of the
// body: urlencoded form, JSON object (a string value) or multipart form,
// with any spelling of the media type. It is the one rule of keepfed: the
// server authenticates with it and the record proxy salts exactly this
// token (and strips every other carrier) before forwarding.
func ExtractToken(req *fasthttp.Request) string {
	if t := ExtractHeaderToken(req); t != "" {
		return t
	}
	body := req.Body()
	if len(body) == 0 {
		return ""
	}
	switch bodyKindOf(req) {
	case bodyForm:
		if v, _ := FormValue(body, "api_token"); len(v) > 0 {
			return string(v)
		}
	case bodyJSON:
		// Only a \u escape can spell the key without its letters.
		if !bytes.Contains(body, []byte("api_token")) && !bytes.Contains(body, []byte(`\u`)) {
			return ""
		}
		s, _ := JSONTopString(body, "api_token")
		return s
	case bodyMultipart:
		if v, ok := multipartValue(req, "api_token"); ok {
			return v
		}
	}
	return ""
}

// ExtractHeaderToken is ExtractToken without the body: the token of the
// Authorization header, the api_token query parameter or the
// arvados_api_token cookie. It never reads the body, so it can run
// before the body has arrived.
func ExtractHeaderToken(req *fasthttp.Request) string {
	if auth := req.Header.Peek("Authorization"); len(auth) > 0 {
		if sp := bytes.IndexByte(auth, ' '); sp > 0 {
			scheme, val := auth[:sp], bytes.TrimSpace(auth[sp+1:])
			switch string(scheme) {
			case "Bearer", "OAuth2":
				if len(val) > 0 {
					return string(val)
				}
			case "Basic":
				if dec, err := base64.StdEncoding.DecodeString(string(val)); err == nil {
					if i := bytes.IndexByte(dec, ':'); i >= 0 && i+1 < len(dec) {
						return string(dec[i+1:])
					}
				}
			}
		}
	}
	if v := req.URI().QueryArgs().Peek("api_token"); len(v) > 0 {
		return string(v)
	}
	if c := req.Header.Cookie("arvados_api_token"); len(c) > 0 {
		if dec, err := base64.URLEncoding.DecodeString(string(c)); err == nil && len(dec) > 0 {
			return string(dec)
		}
	}
	return ""
}

// multipartValue returns the first value of the form field name of a
// multipart body.
func multipartValue(req *fasthttp.Request, name string) (string, bool) {
	mr, err := multipartReader(req)
	if err != nil {
		return "", false
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			return "", false
		}
		if part.FormName() == name {
			v, err := io.ReadAll(io.LimitReader(part, 64<<10))
			return string(v), err == nil && len(v) > 0
		}
	}
}

func multipartReader(req *fasthttp.Request) (*multipart.Reader, error) {
	_, params, err := mime.ParseMediaType(string(req.Header.ContentType()))
	if err != nil {
		return nil, err
	}
	b := params["boundary"]
	if b == "" {
		return nil, multipart.ErrMessageTooLarge
	}
	return multipart.NewReader(bytes.NewReader(req.Body()), b), nil
}

// keyKind says what a parameter name is to the token rules.
type keyKind uint8

const (
	keyPlain keyKind = iota
	keyAPIToken
	keyReaderTokens
)

// classifyKey tells api_token and reader_tokens in every spelling a remote
// might read as them: percent-decoded, blanks trimmed, any case, with a
// Rails "[...]" suffix.
func classifyKey(k string) keyKind {
	k = strings.ToLower(strings.TrimSpace(k))
	if i := strings.IndexByte(k, '['); i >= 0 {
		k = strings.TrimSpace(k[:i])
	}
	switch k {
	case "api_token":
		return keyAPIToken
	case "reader_tokens":
		return keyReaderTokens
	}
	return keyPlain
}

// sanitizeArgs rewrites a urlencoded parameter string (a query or a form
// body): pairs whose key is api_token or reader_tokens in any spelling are
// removed, splitting on '&' and on ';' (which some servers also take as a
// separator); every other pair is kept byte for byte with its separator.
// The reader tokens found are returned (a JSON array value contributes each
// string). changed reports whether anything was removed.
func sanitizeArgs(raw []byte) (out []byte, readers []string, changed bool) {
	if !bytes.Contains(bytes.ToLower(raw), []byte("token")) && !bytes.Contains(raw, []byte("%")) {
		return raw, nil, false
	}
	orig := raw
	out = make([]byte, 0, len(raw))
	for len(raw) > 0 {
		i := bytes.IndexAny(raw, "&;")
		seg, sep := raw, []byte(nil)
		if i >= 0 {
			seg, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			raw = nil
		}
		k, v, _ := bytes.Cut(seg, []byte("="))
		switch classifyKey(unescapeArg(k)) {
		case keyAPIToken:
			changed = true
			continue
		case keyReaderTokens:
			changed = true
			readers = append(readers, readerValues(unescapeArg(v))...)
			continue
		}
		if len(out) > 0 && len(sep) == 0 {
			sep = []byte("&")
		}
		out = append(out, seg...)
		out = append(out, sep...)
	}
	if !changed {
		return orig, nil, false
	}
	return bytes.TrimRight(out, "&;"), readers, true
}

// unescapeArg percent-decodes a query component ('+' is a space); a bad
// escape leaves the text as it is.
func unescapeArg(b []byte) string {
	s, err := url.QueryUnescape(string(b))
	if err != nil {
		return string(b)
	}
	return s
}

// readerValues returns the tokens of one reader_tokens value: a JSON array
// of strings, or a single token.
func readerValues(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if strings.HasPrefix(v, "[") {
		var ts []string
		if json.Unmarshal([]byte(v), &ts) != nil {
			return nil
		}
		return ts
	}
	return []string{v}
}

// sanitizeJSON removes every top-level key of a JSON object body that
// classifyKey takes for api_token or reader_tokens, returning the reader
// tokens found. A body that is not valid JSON is an error; a valid
// non-object is returned unchanged.
func sanitizeJSON(body []byte) (out []byte, readers []string, changed bool, err error) {
	if !containsFold(body, "token") && !bytes.Contains(body, []byte(`\u`)) {
		if !json.Valid(body) {
			return nil, nil, false, errInvalidJSON
		}
		return body, nil, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, false, errInvalidJSON
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if !json.Valid(body) {
			return nil, nil, false, errInvalidJSON
		}
		return body, nil, false, nil
	}
	out = append(make([]byte, 0, len(body)), '{')
	first := true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, false, errInvalidJSON
		}
		key, _ := kt.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, nil, false, errInvalidJSON
		}
		switch classifyKey(key) {
		case keyAPIToken:
			changed = true
			continue
		case keyReaderTokens:
			changed = true
			var s string
			if json.Unmarshal(val, &s) == nil {
				readers = append(readers, readerValues(s)...)
			} else {
				var ts []string
				if json.Unmarshal(val, &ts) == nil {
					readers = append(readers, ts...)
				}
			}
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		kb, _ := json.Marshal(key)
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, val...)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, false, errInvalidJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, false, errInvalidJSON
	}
	return append(out, '}'), readers, changed, nil
}

var errInvalidJSON = errorf(fasthttp.StatusBadRequest, "invalid JSON request body")

// sanitizeMultipart rebuilds a multipart/form-data body without its
// api_token and reader_tokens fields (any spelling), keeping the boundary
// and every other part, and returns the reader tokens found.
// salt turns the reader tokens found into those written back as one
// reader_tokens field.
func sanitizeMultipart(req *fasthttp.Request, salt func([]string) []string) (out []byte, readers []string, err error) {
	mr, err := multipartReader(req)
	if err != nil {
		return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
	}
	_, params, _ := mime.ParseMediaType(string(req.Header.ContentType()))
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(params["boundary"]); err != nil {
		return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
		}
		switch classifyKey(part.FormName()) {
		case keyAPIToken:
			continue
		case keyReaderTokens:
			v, err := io.ReadAll(io.LimitReader(part, 1<<20))
			if err != nil {
				return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
			}
			readers = append(readers, readerValues(string(v))...)
			continue
		}
		w, err := mw.CreatePart(textproto.MIMEHeader(part.Header))
		if err == nil {
			_, err = io.Copy(w, part)
		}
		if err != nil {
			return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
		}
	}
	if salted := salt(readers); len(salted) > 0 {
		if err := mw.WriteField("reader_tokens", string(readerTokensJSON(salted))); err != nil {
			return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
		}
	}
	if err := mw.Close(); err != nil {
		return nil, nil, errorf(fasthttp.StatusBadRequest, "invalid multipart request body")
	}
	return buf.Bytes(), readers, nil
}

// containsFold reports whether b contains the lowercase ASCII word s in any
// case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiLower(b[i]) != s[0] {
			continue
		}
		j := 1
		for j < len(s) && asciiLower(b[i+j]) == s[j] {
			j++
		}
		if j == len(s) {
			return true
		}
	}
	return false
}

func asciiLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// forwardedHeaders are the only client request headers sent to another
// cluster (besides the Host, the salted Authorization, X-Forwarded-For and
// Via that prepare sets): content negotiation, conditional and range
// requests, the method override and the request id. Everything else —
// Cookie, Referer, Origin, User-Agent, X-Api-Token, X-Forwarded-*, any
// custom header — stays here. Accept-Encoding is not forwarded: prepare
// asks for gzip only, which the proxy decodes within its limit.
var forwardedHeaders = map[string]bool{
	"Accept":                 true,
	"Content-Type":           true,
	"Content-Length":         true,
	"X-Request-Id":           true,
	"X-Http-Method-Override": true,
	"If-Match":               true,
	"If-None-Match":          true,
	"If-Modified-Since":      true,
	"If-Unmodified-Since":    true,
	"If-Range":               true,
	"Range":                  true,
}

// keepAllowedHeaders deletes every header of h that is not in
// forwardedHeaders, and all cookies.
func keepAllowedHeaders(h *fasthttp.RequestHeader) {
	var drop []string
	for k := range h.All() {
		if !forwardedHeaders[textproto.CanonicalMIMEHeaderKey(string(k))] {
			drop = append(drop, string(k))
		}
	}
	for _, k := range drop {
		h.Del(k)
	}
	h.DelAllCookies()
	h.Del("Cookie")
	h.SetUserAgentBytes(nil)
}

// forwardedFor is the X-Forwarded-For value to send: the client's prior
// chain when every element is an IP address (anything else is dropped: it
// is client text), then the client's address.
func forwardedFor(prior []byte, ip string) string {
	if len(prior) > 0 {
		ok := true
		for el := range strings.SplitSeq(string(prior), ",") {
			if _, err := netip.ParseAddr(strings.TrimSpace(el)); err != nil {
				ok = false
				break
			}
		}
		if ok {
			return string(prior) + ", " + ip
		}
	}
	return ip
}

// tokenSecret is the secret part of a token (all of a v1 or unknown one):
// what must never appear in a request to a cluster that did not issue it.
func tokenSecret(tok string) string {
	t := signing.ParseToken(tok)
	if t.Version == signing.TokenV2 && t.Secret != "" {
		return t.Secret
	}
	return tok
}
