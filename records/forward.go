package records

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
)

// forwarding describes one request forwarded to another cluster (or to the
// upstream API).
type forwarding struct {
	target Target
	// auth is the (salted) token sent as "Authorization: Bearer"; "" sends
	// none.
	auth string
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
	p.prepare(ctx, req, rc, f.auth, f.upstream)
	if f.rewriteIn {
		rewriteRequestManifests(req, f.target.ID)
	}
	if f.rewriteOut != nil {
		req.Header.Del("Accept-Encoding")
	}
	if err := p.do(rc, f.target.ID, req, resp); err != nil {
		return err
	}
	var buf *[]byte
	if f.rewriteOut != nil {
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

// prepare turns req, a copy of the client's request, into the request for
// rc: URI scheme and host, hop-by-hop headers dropped, the client's
// credentials (Authorization, arvados_api_token cookie, api_token in the
// query and form body) replaced by "Authorization: Bearer auth" unless
// upstream, X-Request-Id kept, X-Forwarded-For and the Via mark added.
func (p *Proxy) prepare(ctx *fasthttp.RequestCtx, req *fasthttp.Request, rc *remote, auth string, upstream bool) {
	uri := req.URI()
	uri.SetScheme(rc.scheme)
	uri.SetHost(rc.host)
	req.Header.SetHost(rc.host)
	req.UseHostHeader = false
	stripHopHeaders(&req.Header)
	if !upstream {
		req.Header.Del("Authorization")
		req.Header.DelCookie("arvados_api_token")
		if uri.QueryArgs().Has("api_token") {
			uri.QueryArgs().Del("api_token")
		}
		if isForm(req) {
			var args fasthttp.Args
			args.ParseBytes(req.Body())
			if args.Has("api_token") {
				args.Del("api_token")
				req.SetBody(args.AppendBytes(nil))
			}
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
	}
	if len(req.Header.Peek("X-Request-Id")) == 0 {
		if id := ctx.Response.Header.Peek("X-Request-Id"); len(id) > 0 {
			req.Header.SetBytesV("X-Request-Id", id)
		}
	}
	if ip := ctx.RemoteIP(); ip != nil && !ip.IsUnspecified() {
		if prior := req.Header.Peek("X-Forwarded-For"); len(prior) > 0 {
			req.Header.Set("X-Forwarded-For", string(prior)+", "+ip.String())
		} else {
			req.Header.Set("X-Forwarded-For", ip.String())
		}
	}
	addVia(&req.Header)
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
	return wrapError(fasthttp.StatusBadGateway, "request to cluster "+cluster+" failed: "+err.Error(), err)
}

// copyResponse copies status, headers and body of src into dst, keeping
// dst's X-Request-Id unless src has one and dropping hop-by-hop headers.
func copyResponse(dst, src *fasthttp.Response) {
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
	dst.SetBody(src.Body())
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
	body := resp.Body()
	if len(resp.Header.ContentEncoding()) > 0 {
		var err error
		if body, err = resp.BodyUncompressed(); err != nil {
			return nil, wrapError(fasthttp.StatusBadGateway, "malformed response from cluster "+cluster, err)
		}
		resp.Header.Del("Content-Encoding")
		resp.SetBody(body)
		body = resp.Body()
	}
	if !bytes.Contains(body, []byte("manifest_text")) {
		return nil, nil
	}
	buf := getBuf()
	out, _, err := AppendManifestJSON((*buf)[:0], body, rw)
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
