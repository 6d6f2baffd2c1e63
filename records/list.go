package records

import (
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"

	"github.com/keepfed/keepfed/manifest"
)

// listPage is the part of a list response the merge needs.
type listPage struct {
	Kind   string            `json:"kind"`
	Items  []json.RawMessage `json:"items"`
	Errors []string          `json:"errors"`
}

// listPart is what one cluster contributed to a federated list.
type listPart struct {
	kind  string
	items []json.RawMessage
	err   error
}

// listFetch fetches the records of a set of uuids from one cluster.
type listFetch func(uuids []string) ([]byte, error)

// serveList answers a list whose uuid filters span clusters: one query per
// cluster (filters [["uuid","in",[...]]], count=none, the client's select),
// at most MaxRequestAmplification at once, repeated for missing uuids while
// a cluster makes progress; the items are merged into
// {"kind":...,"items":[...]}. An unknown cluster is 404 before anything is
// contacted; any cluster failing is 502 with every message.
func (p *Proxy) serveList(ctx *fasthttp.RequestCtx, local fasthttp.RequestHandler, rt route) error {
	token := ExtractToken(&ctx.Request)
	fetches := make([]listFetch, len(rt.uuids))
	rws := make([]*manifest.Rewriter, len(rt.uuids))
	for i, g := range rt.uuids {
		if g.cluster == p.cfg.LocalID {
			fetches[i] = p.localFetch(ctx, local, rt)
			continue
		}
		t, ok := p.resolve(g.cluster)
		if !ok {
			return errorf(fasthttp.StatusNotFound, "no proxy available for cluster %s", g.cluster)
		}
		auth, err := p.saltFor(token, t.ID)
		if err != nil {
			return err
		}
		rc, err := p.client(t)
		if err != nil {
			return err
		}
		if fetches[i], err = p.remoteFetch(ctx, rc, t.ID, token, auth, rt); err != nil {
			return err
		}
		if rt.collection {
			rws[i] = p.toLocal(t.ID, token)
		}
	}
	parts := make([]listPart, len(rt.uuids))
	var g errgroup.Group
	g.SetLimit(p.cfg.MaxRequestAmplification)
	for i := range rt.uuids {
		g.Go(func() error {
			parts[i] = collectList(rt.uuids[i], fetches[i], rws[i])
			return nil
		})
	}
	_ = g.Wait()
	var e httpError
	kind := ""
	n := 0
	for _, part := range parts {
		if part.err != nil {
			e.msgs = append(e.msgs, part.err.Error())
		}
		if kind == "" {
			kind = part.kind
		}
		n += len(part.items)
	}
	if len(e.msgs) > 0 {
		e.status = fasthttp.StatusBadGateway
		return &e
	}
	out := append(make([]byte, 0, 64), `{"kind":`...)
	kb, _ := json.Marshal(kind)
	out = append(out, kb...)
	out = append(out, `,"items":[`...)
	first := true
	for _, part := range parts {
		for _, it := range part.items {
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, it...)
		}
	}
	out = append(out, "]}\n"...)
	ctx.Response.ResetBody()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
	return nil
}

// collectList asks one cluster for its uuids until it has them all or it
// stops making progress.
func collectList(g clusterUUIDs, fetch listFetch, rw *manifest.Rewriter) listPart {
	var part listPart
	remaining := slices.Clone(g.uuids)
	for len(remaining) > 0 {
		body, err := fetch(remaining)
		if err != nil {
			part.err = err
			return part
		}
		if rw != nil {
			if body, _, err = AppendRecordManifests(nil, body, *rw); err != nil {
				part.err = errorf(fasthttp.StatusBadGateway, "malformed response from cluster %s", g.cluster)
				return part
			}
		}
		var page listPage
		if err := json.Unmarshal(body, &page); err != nil {
			part.err = errorf(fasthttp.StatusBadGateway, "malformed response from cluster %s", g.cluster)
			return part
		}
		if part.kind == "" {
			part.kind = page.Kind
		}
		progress := false
		for _, it := range page.Items {
			var rec struct {
				UUID string `json:"uuid"`
			}
			if json.Unmarshal(it, &rec) != nil {
				continue
			}
			if k := slices.Index(remaining, rec.UUID); k >= 0 {
				remaining = slices.Delete(remaining, k, k+1)
				part.items = append(part.items, it)
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	return part
}

// listArgs are the parameters of one cluster's share of a federated list.
func listArgs(args *fasthttp.Args, uuids []string, sel []byte) {
	f, _ := json.Marshal([][]any{{"uuid", "in", uuids}})
	args.SetBytesV("filters", f)
	args.Set("count", "none")
	if len(sel) > 0 {
		args.SetBytesV("select", sel)
	}
}

// remoteFetch returns the fetch of one remote cluster: POST with
// _method=GET and the parameters in a form body (uuid lists are long), the
// client's headers prepared as for any forwarded request. It copies what it
// needs from ctx now: the fetch runs on another goroutine.
func (p *Proxy) remoteFetch(ctx *fasthttp.RequestCtx, rc *remote, cluster, token, auth string, rt route) (listFetch, error) {
	tmpl := &fasthttp.Request{}
	ctx.Request.CopyTo(tmpl)
	if err := p.prepare(ctx, tmpl, rc, outbound{cluster: cluster, token: token, auth: auth}); err != nil {
		return nil, err
	}
	// The client's reader tokens, salted by prepare, go along.
	readers := append([]byte(nil), tmpl.URI().QueryArgs().Peek("reader_tokens")...)
	if len(readers) == 0 && isForm(tmpl) {
		var fa fasthttp.Args
		fa.ParseBytes(tmpl.Body())
		readers = append(readers, fa.Peek("reader_tokens")...)
	}
	tmpl.Header.SetMethod(fasthttp.MethodPost)
	tmpl.URI().SetPath("/arvados/v1/" + rt.typ)
	tmpl.URI().SetQueryString("")
	tmpl.Header.SetContentType("application/x-www-form-urlencoded")
	return func(uuids []string) ([]byte, error) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		tmpl.CopyTo(req)
		var args fasthttp.Args
		args.Set("_method", "GET")
		listArgs(&args, uuids, rt.sel)
		if len(readers) > 0 {
			args.SetBytesV("reader_tokens", readers)
		}
		req.SetBody(args.AppendBytes(nil))
		if err := p.do(rc, cluster, req, resp); err != nil {
			return nil, err
		}
		if err := decodeBody(resp, p.cfg.MaxBodySize, cluster); err != nil {
			return nil, err
		}
		body := resp.Body()
		if resp.StatusCode() != fasthttp.StatusOK {
			return nil, listStatusError(cluster, resp.StatusCode(), body)
		}
		return slices.Clone(body), nil
	}, nil
}

// localFetch returns the fetch of this cluster's share: a GET with the
// parameters in the query, handled in-process by local on a fresh
// RequestCtx that carries the client's headers and user values.
func (p *Proxy) localFetch(ctx *fasthttp.RequestCtx, local fasthttp.RequestHandler, rt route) listFetch {
	tmpl := &fasthttp.Request{}
	ctx.Request.CopyTo(tmpl)
	tmpl.Header.SetMethod(fasthttp.MethodGet)
	tmpl.ResetBody()
	tmpl.Header.Del("Content-Type")
	tmpl.URI().SetPath("/arvados/v1/" + rt.typ)
	tmpl.URI().SetQueryString("")
	if tok := ExtractToken(&ctx.Request); tok != "" && len(tmpl.Header.Peek("Authorization")) == 0 {
		tmpl.Header.Set("Authorization", "Bearer "+tok)
	}
	type kv struct{ k, v any }
	var vals []kv
	ctx.VisitUserValuesAll(func(k, v any) { vals = append(vals, kv{k, v}) })
	var addr net.Addr = ctx.RemoteAddr()
	return func(uuids []string) ([]byte, error) {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		tmpl.CopyTo(req)
		listArgs(req.URI().QueryArgs(), uuids, rt.sel)
		sub := &fasthttp.RequestCtx{}
		sub.Init(req, addr, nil)
		for _, x := range vals {
			sub.SetUserValue(x.k, x.v)
		}
		local(sub)
		body := sub.Response.Body()
		if st := sub.Response.StatusCode(); st != fasthttp.StatusOK {
			return nil, listStatusError(p.cfg.LocalID, st, body)
		}
		return slices.Clone(body), nil
	}
}

// listStatusError describes a cluster's non-200 answer to a list query.
func listStatusError(cluster string, status int, body []byte) error {
	msg := "cluster " + cluster + " answered " + strconv.Itoa(status)
	var page listPage
	if json.Unmarshal(body, &page) == nil && len(page.Errors) > 0 {
		msg += ": " + strings.Join(page.Errors, "; ")
	}
	return errorf(fasthttp.StatusBadGateway, "%s", msg)
}
