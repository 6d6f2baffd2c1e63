package records

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
)

// pdhOutcome is one remote's answer to a lookup by portable data hash.
type pdhOutcome struct {
	cluster string
	status  int // HTTP status, or 502 for transport failures and mismatches
	msg     string
	resp    *fasthttp.Response // the winner's response, else nil
	buf     *[]byte            // pooled buffer backing a rewritten winner body
}

// servePDH answers GET /arvados/v1/collections/<pdh>: the local backend
// first; when it answers 404, every remote in parallel (at most
// MaxRequestAmplification at a time). The first 200 answer whose manifest
// hashes to the requested PDH wins and is rewritten for this cluster. With
// no winner: any 5xx/429 (mismatches and transport failures count as 502)
// → 502, else any other non-404 → 422, else 404.
func (p *Proxy) servePDH(ctx *fasthttp.RequestCtx, local fasthttp.RequestHandler, rt route) error {
	local(ctx)
	if ctx.Response.StatusCode() != fasthttp.StatusNotFound || len(p.cfg.Remotes) == 0 {
		return nil
	}
	token := ExtractToken(&ctx.Request)
	needManifest := true
	if sel, ok := param(&ctx.Request, "select"); ok {
		needManifest = bytes.Contains(sel, []byte(`"manifest_text"`))
	}
	results := make(chan pdhOutcome, len(p.cfg.Remotes))
	sem := make(chan struct{}, p.cfg.MaxRequestAmplification)
	var fails []pdhOutcome
	var saltErr error
	asked := 0
	for _, id := range p.cfg.Remotes {
		t, ok := p.resolve(id)
		if !ok {
			continue
		}
		auth, err := p.saltFor(token, t.ID)
		if err != nil {
			saltErr = err
			fails = append(fails, pdhOutcome{cluster: t.ID, status: fasthttp.StatusUnauthorized, msg: err.Error()})
			continue
		}
		rc, err := p.client(t)
		if err != nil {
			fails = append(fails, pdhOutcome{cluster: t.ID, status: statusOf(err), msg: err.Error()})
			continue
		}
		// The request is built here: ctx must not be touched by the
		// goroutines, which may outlive the handler.
		req := fasthttp.AcquireRequest()
		ctx.Request.CopyTo(req)
		if err := p.prepare(ctx, req, rc, outbound{cluster: t.ID, token: token, auth: auth}); err != nil {
			fasthttp.ReleaseRequest(req)
			return err
		}
		rw := p.toLocal(t.ID, token)
		asked++
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results <- p.askPDH(rc, t.ID, req, rt.pdh, needManifest, *rw)
		}()
	}
	if asked == 0 && saltErr != nil {
		return saltErr
	}
	for range asked {
		o := <-results
		if o.resp != nil {
			copyResponse(&ctx.Response, o.resp)
			fasthttp.ReleaseResponse(o.resp)
			if o.buf != nil {
				putBuf(o.buf)
			}
			return nil
		}
		fails = append(fails, o)
	}
	return aggregatePDH(rt.pdh, fails)
}

// askPDH asks one remote and checks its answer; it releases req.
func (p *Proxy) askPDH(rc *remote, cluster string, req *fasthttp.Request, pdh string, needManifest bool, rw manifest.Rewriter) pdhOutcome {
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	fail := func(status int, msg string) pdhOutcome {
		fasthttp.ReleaseResponse(resp)
		return pdhOutcome{cluster: cluster, status: status, msg: msg}
	}
	if err := p.do(rc, cluster, req, resp); err != nil {
		return fail(statusOf(err), err.Error())
	}
	if st := resp.StatusCode(); st != fasthttp.StatusOK {
		return fail(st, "cluster "+cluster+" answered "+strconv.Itoa(st))
	}
	if err := decodeBody(resp, p.cfg.MaxBodySize, cluster); err != nil {
		return fail(statusOf(err), err.Error())
	}
	rec, err := parseRecord(resp.Body())
	switch {
	case err != nil:
		return fail(fasthttp.StatusBadGateway, "malformed response from cluster "+cluster)
	case rec.hasManifest && manifest.PortableDataHash(rec.manifest) != pdh:
		return fail(fasthttp.StatusBadGateway, "cluster "+cluster+" returned a collection whose manifest does not match "+pdh)
	case !rec.hasManifest && needManifest:
		return fail(fasthttp.StatusBadGateway, "cluster "+cluster+" returned a collection without manifest_text")
	case !rec.hasManifest && rec.pdh != "" && rec.pdh != pdh:
		return fail(fasthttp.StatusBadGateway, "cluster "+cluster+" returned a collection whose portable_data_hash does not match "+pdh)
	}
	out, err := rewriteResponse(resp, rw, cluster)
	if err != nil {
		return fail(statusOf(err), err.Error())
	}
	return pdhOutcome{cluster: cluster, status: fasthttp.StatusOK, resp: resp, buf: out}
}

// pdhRecord is what a lookup by portable data hash checks in an answer.
type pdhRecord struct {
	manifest    []byte
	hasManifest bool
	pdh         string
}

// parseRecord decodes the top level of a collection record: a JSON object
// with no key twice (JSON readers disagree on which duplicate counts);
// manifest_text, when present and not null, must be a string.
// Nothing below the top level counts: a "manifest_text" inside
// properties is data.
func parseRecord(body []byte) (pdhRecord, error) {
	var rec pdhRecord
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return rec, ErrMalformedJSON
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return rec, ErrMalformedJSON
		}
		key, _ := kt.(string)
		if seen[key] {
			return rec, ErrDuplicateKey
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return rec, ErrMalformedJSON
		}
		switch key {
		case "manifest_text":
			if string(val) == "null" {
				continue
			}
			var m string
			if json.Unmarshal(val, &m) != nil {
				return rec, ErrMalformedJSON
			}
			rec.manifest, rec.hasManifest = []byte(m), true
		case "portable_data_hash":
			_ = json.Unmarshal(val, &rec.pdh)
		}
	}
	if _, err := dec.Token(); err != nil {
		return rec, ErrMalformedJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return rec, ErrMalformedJSON
	}
	return rec, nil
}

// aggregatePDH is the error when no cluster had the collection.
func aggregatePDH(pdh string, fails []pdhOutcome) error {
	status := fasthttp.StatusNotFound
	for _, f := range fails {
		switch {
		case f.status >= 500 || f.status == fasthttp.StatusTooManyRequests:
			status = fasthttp.StatusBadGateway
		case f.status != fasthttp.StatusNotFound && status == fasthttp.StatusNotFound:
			status = fasthttp.StatusUnprocessableEntity
		}
	}
	if status == fasthttp.StatusNotFound {
		return errorf(status, "collection %s not found", pdh)
	}
	e := &httpError{status: status}
	for _, f := range fails {
		if f.status != fasthttp.StatusNotFound {
			e.msgs = append(e.msgs, f.msg)
		}
	}
	return e
}
