package records

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

// forwarding describes one request forwarded to another cluster (or to the
// upstream API).
type forwarding struct {
	target Target
	// token is the client's raw token; auth the (salted) one sent as
	// "Authorization: Bearer"; "" sends none.
	token, auth string
	// upstream: the target is this cluster's own API; credentials go
	// unchanged.
	upstream bool
	// rewriteIn turns +R<target>- hints back into +A in collection
	// manifests sent to the target.
	rewriteIn bool
	// rewriteOut, when set, rewrites manifest_text in the JSON response.
	rewriteOut *manifest.Rewriter
}

// hopHeaders are the hop-by-hop headers never forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "TE", "Trailer", "Upgrade", "Transfer-Encoding",
}

// forward sends the client's request to f.target and copies the answer
// (status, headers, body) into ctx.Response.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, f forwarding) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.CopyTo(req)
	rc, err := p.client(f.target)
	if err != nil {
		return err
	}
	if err := p.prepare(ctx, req, rc, outbound{cluster: f.target.ID, token: f.token, auth: f.auth, upstream: f.upstream}); err != nil {
		return err
	}
	if f.rewriteIn {
		rewriteRequestManifests(req, f.target.ID)
	}
	if err := p.do(rc, f.target.ID, req, resp); err != nil {
		return err
	}
	if !f.upstream {
		if err := p.checkRemoteAnswer(resp, f.target.ID); err != nil {
			return err
		}
	}
	var buf *[]byte
	if f.rewriteOut != nil {
		if streamed, err := streamRewrittenResponse(ctx, resp, *f.rewriteOut, f.target.ID, p.cfg.HoldStream); streamed || err != nil {
			return err
		}
		if buf, err = rewriteResponse(resp, *f.rewriteOut, f.target.ID); err != nil {
			return err
		}
	}
	copyResponse(&ctx.Response, resp)
	if buf != nil {
		putBuf(buf)
	}
	return nil
}

// outbound says whose credentials a prepared request carries.
type outbound struct {
	// cluster is the target's id.
	cluster string
	// token is the client's raw token (ExtractToken), auth the salted
	// one sent as "Authorization: Bearer"; "" sends none.
	token, auth string
	// upstream: the target is this cluster's own API; credentials go
	// unchanged.
	upstream bool
}

// prepare turns req, a copy of the client's request, into the request for
// rc: URI scheme and host, hop-by-hop headers dropped, X-Forwarded-For and
// the Via mark added. Unless upstream, the request keeps only the
// forwardedHeaders, every token carrier is removed (Authorization,
// cookies, api_token in the query, ';'-separated or percent-encoded
// spellings included, and in form, JSON and multipart bodies), reader
// tokens are salted for the target (or dropped), and o.auth is sent as
// "Authorization: Bearer". A request that still holds a raw token secret
// not issued by the target anywhere else is refused (400).
func (p *Proxy) prepare(ctx *fasthttp.RequestCtx, req *fasthttp.Request, rc *remote, o outbound) error {
	uri := req.URI()
	uri.SetScheme(rc.scheme)
	uri.SetHost(rc.host)
	req.Header.SetHost(rc.host)
	req.UseHostHeader = false
	stripHopHeaders(&req.Header)
	if o.upstream {
		if ip := ctx.RemoteIP(); ip != nil && !ip.IsUnspecified() {
			req.Header.Set("X-Forwarded-For", forwardedFor(req.Header.Peek("X-Forwarded-For"), ip.String()))
		}
		addVia(&req.Header)
		return nil
	}
	var secrets []string
	if o.token != "" && o.auth != o.token {
		secrets = append(secrets, tokenSecret(o.token))
	}
	// Query.
	if q, readers, changed := sanitizeArgs(uri.QueryString()); changed {
		secrets = p.appendReaderSecrets(secrets, readers, o.cluster)
		if salted := p.saltReaders(readers, o.cluster); len(salted) > 0 {
			q = appendArg(q, "reader_tokens", readerTokensJSON(salted))
		}
		uri.SetQueryStringBytes(q)
	}
	// Body.
	if err := p.prepareBody(req, o.cluster, &secrets); err != nil {
		return err
	}
	// Headers.
	reqID := append([]byte(nil), req.Header.Peek("X-Request-Id")...)
	prior := append([]byte(nil), req.Header.Peek("X-Forwarded-For")...)
	keepAllowedHeaders(&req.Header)
	req.Header.SetHost(rc.host)
	req.Header.Del("X-Request-Id")
	if len(reqID) == 0 {
		reqID = append(reqID, ctx.Response.Header.Peek("X-Request-Id")...)
	}
	if safeRequestID(reqID) {
		req.Header.SetBytesV("X-Request-Id", reqID)
	}
	if o.auth != "" {
		req.Header.Set("Authorization", "Bearer "+o.auth)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if ip := ctx.RemoteIP(); ip != nil && !ip.IsUnspecified() {
		req.Header.Set("X-Forwarded-For", forwardedFor(prior, ip.String()))
	}
	req.Header.Set("Via", viaMark)
	for _, s := range secrets {
		if carriesSecret(req, s) {
			return errorf(fasthttp.StatusBadRequest,
				"request for cluster %s carries an API token outside its credentials", o.cluster)
		}
	}
	return nil
}

// appendReaderSecrets adds the secrets of the reader tokens not issued by
// cluster to secrets.
func (p *Proxy) appendReaderSecrets(secrets, readers []string, cluster string) []string {
	for _, r := range readers {
		if s, err := signing.SaltToken(r, cluster); err != nil || s != r {
			secrets = append(secrets, tokenSecret(r))
		}
	}
	return secrets
}

// prepareBody removes the token carriers of req's body (by its media
// type; a body without Content-Type is labelled JSON when it looks like
// JSON, else urlencoded, as it would be sent), puts the reader tokens back
// salted for cluster, and adds the raw secrets found to *secrets.
func (p *Proxy) prepareBody(req *fasthttp.Request, cluster string, secrets *[]string) error {
	body := req.Body()
	if len(body) == 0 {
		return nil
	}
	kind := bodyKindOf(req)
	if len(req.Header.ContentType()) == 0 {
		if t := bytes.TrimSpace(body); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			req.Header.SetContentType("application/json")
			kind = bodyJSON
		} else {
			req.Header.SetContentType("application/x-www-form-urlencoded")
			kind = bodyForm
		}
	}
	var readers []string
	switch kind {
	case bodyForm:
		out, rs, changed := sanitizeArgs(body)
		if !changed {
			return nil
		}
		readers = rs
		if salted := p.saltReaders(rs, cluster); len(salted) > 0 {
			out = appendArg(out, "reader_tokens", readerTokensJSON(salted))
		}
		req.SetBody(out)
	case bodyJSON:
		out, rs, changed, err := sanitizeJSON(body)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
		readers = rs
		if salted := p.saltReaders(rs, cluster); len(salted) > 0 {
			out = appendJSONKey(out, "reader_tokens", readerTokensJSON(salted))
		}
		req.SetBody(out)
	case bodyMultipart:
		out, rs, err := sanitizeMultipart(req, func(rs []string) []string { return p.saltReaders(rs, cluster) })
		if err != nil {
			return err
		}
		readers = rs
		req.SetBody(out)
	}
	*secrets = p.appendReaderSecrets(*secrets, readers, cluster)
	return nil
}

// appendArg appends name=value (value query-escaped) to a urlencoded
// string.
func appendArg(q []byte, name string, value []byte) []byte {
	if len(q) > 0 {
		q = append(q, '&')
	}
	q = append(q, name...)
	q = append(q, '=')
	return append(q, url.QueryEscape(string(value))...)
}

// appendJSONKey adds "name": raw to the JSON object obj (as written by
// sanitizeJSON); a non-object is returned unchanged.
func appendJSONKey(obj []byte, name string, raw []byte) []byte {
	t := bytes.TrimSpace(obj)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return obj
	}
	out := append([]byte(nil), t[:len(t)-1]...)
	if len(bytes.TrimSpace(out[1:])) > 0 {
		out = append(out, ',')
	}
	kb, _ := json.Marshal(name)
	out = append(out, kb...)
	out = append(out, ':')
	out = append(out, raw...)
	return append(out, '}')
}

// safeRequestID reports whether a client's X-Request-Id may go to another
// cluster: short, printable, no '/', and not shaped like a v1 token.
func safeRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return signing.ParseToken(string(id)).Version != signing.TokenV1
}

// carriesSecret reports whether secret appears in req's URI, a header
// value or its body.
func carriesSecret(req *fasthttp.Request, secret string) bool {
	if len(secret) < 16 {
		return false
	}
	s := []byte(secret)
	if bytes.Contains(req.URI().RequestURI(), s) || bytes.Contains(req.Body(), s) {
		return true
	}
	for k, v := range req.Header.All() {
		if string(k) == "Authorization" {
			continue // o.auth, salted or the target's own
		}
		if bytes.Contains(v, s) {
			return true
		}
	}
	return false
}

// stripHopHeaders removes the hop-by-hop headers, including those named in
// Connection.
func stripHopHeaders(h *fasthttp.RequestHeader) {
	for _, c := range h.PeekAll("Connection") {
		for name := range strings.SplitSeq(string(c), ",") {
			if name = strings.TrimSpace(name); name != "" && !strings.EqualFold(name, "close") &&
				!strings.EqualFold(name, "keep-alive") {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	h.ResetConnectionClose()
}

// addVia appends keepfed's mark to the Via header.
func addVia(h *fasthttp.RequestHeader) {
	vals := h.PeekAll("Via")
	if len(vals) == 0 {
		h.Set("Via", viaMark)
		return
	}
	var b []byte
	for _, v := range vals {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	b = append(b, viaMark...)
	h.Del("Via")
	h.SetBytesV("Via", b)
}

// hasLoopMark reports whether the request was already forwarded by keepfed
// or by an Arvados controller.
func hasLoopMark(req *fasthttp.Request) bool {
	for _, v := range req.Header.PeekAll("Via") {
		if bytes.Contains(v, []byte("keepfed")) || bytes.Contains(v, []byte("arvados-controller")) {
			return true
		}
	}
	return false
}

// do sends req to rc with the request timeout; transport failures become
// 502 errors naming the cluster.
func (p *Proxy) do(rc *remote, cluster string, req *fasthttp.Request, resp *fasthttp.Response) error {
	err := rc.hc.DoDeadline(req, resp, time.Now().Add(p.cfg.RequestTimeout))
	if err == nil {
		return nil
	}
	return transportError(cluster, err)
}

// transportError is the 502 answered when cluster cannot be reached or
// answers something that is not HTTP.
func transportError(cluster string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return wrapError(fasthttp.StatusBadGateway, "request to cluster "+cluster+" timed out", err)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return wrapError(fasthttp.StatusBadGateway, "response from cluster "+cluster+" is too large", err)
	}
	return wrapError(fasthttp.StatusBadGateway, "request to cluster "+cluster+" failed: "+transportClass(err), err)
}

// transportClass names a transport failure without quoting anything the
// remote sent (fasthttp's parse errors quote the remote's first bytes,
// which would make the proxy a reader of whatever answers there); the
// full error is logged, not sent.
func transportClass(err error) string {
	var oe *net.OpError
	switch {
	case errors.As(err, &oe) && oe.Op == "dial", errors.Is(err, fasthttp.ErrNoFreeConns):
		return "cannot connect"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed"
	}
	return "invalid response"
}

// checkRemoteAnswer decodes the body of a response from another cluster
// within MaxBodySize, and replaces an error answer that is not an
// Arvados JSON error ({"errors":[...]}) by keepfed's own error with the
// remote's status and id: the remote's bytes (an internal service's page,
// a banner) never reach the client.
func (p *Proxy) checkRemoteAnswer(resp *fasthttp.Response, cluster string) error {
	if err := decodeBody(resp, p.cfg.MaxBodySize, cluster); err != nil {
		return err
	}
	if st := resp.StatusCode(); st >= 400 && !isArvadosError(resp) {
		if st > 599 {
			st = fasthttp.StatusBadGateway
		}
		return errorf(st, "cluster %s answered %d", cluster, resp.StatusCode())
	}
	return nil
}

// isArvadosError reports whether resp's body is a JSON object whose
// "errors" is an array of strings, as Arvados answers errors.
func isArvadosError(resp *fasthttp.Response) bool {
	if !isJSON(resp.Header.ContentType()) {
		return false
	}
	var e struct {
		Errors []string `json:"errors"`
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(resp.Body(), &top) != nil || top["errors"] == nil {
		return false
	}
	return json.Unmarshal(top["errors"], &e.Errors) == nil
}

// copyResponse copies status, headers and body of src into dst, keeping
// dst's X-Request-Id unless src has one and dropping hop-by-hop headers.
func copyResponse(dst, src *fasthttp.Response) {
	copyResponseHeader(dst, src)
	dst.SetBody(src.Body())
}

// copyResponseHeader is copyResponse without the body.
func copyResponseHeader(dst, src *fasthttp.Response) {
	var reqID []byte
	if len(src.Header.Peek("X-Request-Id")) == 0 {
		reqID = append(reqID, dst.Header.Peek("X-Request-Id")...)
	}
	src.Header.CopyTo(&dst.Header)
	for _, name := range hopHeaders {
		dst.Header.Del(name)
	}
	dst.Header.ResetConnectionClose()
	if len(reqID) > 0 {
		dst.Header.SetBytesV("X-Request-Id", reqID)
	}
}

// rewriteRequestManifests turns +R<cluster>- hints back into +A in the
// manifest_text of collections sent to cluster, in a JSON body or in the
// collection parameter of a form body. Bodies that do not parse are sent
// unchanged: the target answers them.
func rewriteRequestManifests(req *fasthttp.Request, cluster string) {
	body := req.Body()
	if len(body) == 0 {
		return
	}
	rw := manifest.FromRemote(cluster)
	if isForm(req) {
		var args fasthttp.Args
		args.ParseBytes(body)
		c := args.Peek("collection")
		if len(c) == 0 {
			return
		}
		out, n, err := AppendManifestJSON(nil, c, rw)
		if err != nil || n == 0 {
			return
		}
		args.SetBytesV("collection", out)
		req.SetBody(args.AppendBytes(nil))
		return
	}
	if !bytes.Contains(body, []byte("manifest_text")) {
		return
	}
	out, n, err := AppendManifestJSON(nil, body, rw)
	if err != nil || n == 0 {
		return
	}
	req.SetBody(out)
}

// rewriteResponse rewrites the manifest_text values of a successful JSON
// response from cluster. The returned pooled buffer backs the new body and
// must be put back once the body has been copied.
func rewriteResponse(resp *fasthttp.Response, rw manifest.Rewriter, cluster string) (*[]byte, error) {
	if resp.StatusCode() < 200 || resp.StatusCode() >= 300 || !isJSON(resp.Header.ContentType()) {
		return nil, nil
	}
	if len(resp.Header.ContentEncoding()) > 0 {
		return nil, errorf(fasthttp.StatusBadGateway, "response from cluster %s is still encoded", cluster)
	}
	body := resp.Body()
	if !bytes.Contains(body, []byte("manifest_text")) {
		return nil, nil
	}
	buf := getBuf()
	out, _, err := AppendRecordManifests((*buf)[:0], body, rw)
	if err != nil {
		putBuf(buf)
		return nil, wrapError(fasthttp.StatusBadGateway, "malformed response from cluster "+cluster, err)
	}
	*buf = out
	resp.SetBodyRaw(out)
	return buf, nil
}

func isJSON(ct []byte) bool { return bytes.Contains(ct, []byte("json")) }

// newTLSConfig is the client TLS configuration for a host.
func newTLSConfig(host string, insecure bool) *tls.Config {
	return &tls.Config{ServerName: host, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // Insecure is the operator's RemoteClusters.*.Insecure
}
