// Package api is the embedded Arvados API of a keepfed with the embedded
// backend: the records API (users, api_client_authorizations, groups,
// links, collections, workflows) over keepfed/store, and the token
// management endpoint.
package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/keepfed/keepfed/internal/jsonesc"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/records"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Handler serves the embedded records API.
type Handler struct {
	id   *identity.Identity
	st   *store.Store
	ring *signing.KeyRing
	cfg  *config.ClusterConfig
	now  func() time.Time
}

// New returns the records API of id's store; cfg and ring sign the
// manifests it returns.
func New(id *identity.Identity, cfg *config.ClusterConfig, ring *signing.KeyRing, now func() time.Time) *Handler {
	return &Handler{id: id, st: id.Store(), ring: ring, cfg: cfg, now: now}
}

// emptyBlock is the empty block's hash+size; collections may name it
// without a signature.
const emptyBlock = "d41d8cd98f00b204e9800998ecf8427e+0"

// params are a request's parameters: query string, then the body
// (JSON object, urlencoded or multipart form) over it. Values from a JSON
// body are the JSON text, except strings, which are the string itself, so
// filters=[...] in a query and {"filters":[...]} in a body read alike.
type params map[string]string

// apiRequest is one parsed records API request.
type apiRequest struct {
	kind   store.Kind
	sub    string // after /arvados/v1/<kind>/: "", "current", a uuid or a PDH
	method string
	params params
	// body is a JSON object body's top-level values, or nil.
	body map[string]json.RawMessage
	// cut is the manifest taken out of a large JSON body, or nil.
	cut *cutManifest
	// ownManifest is the cut manifest's buffer once attrs has put it in
	// the attributes: checkManifest may strip it in place.
	ownManifest []byte
	token       string
	auth        store.Authorization
	// remote is the ?remote= cluster id given on a route that accepts
	// salted tokens.
	remote string
}

// serve is the records API entry point; it renders a remote cluster's
// validation failure as Arvados does, {"errors":["failed to validate
// remote token", <remote's messages>...]}, and leaves every other error
// to the router.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) error {
	setCORS(&ctx.Response.Header)
	err := h.dispatch(ctx)
	if err == nil {
		return nil
	}
	var re *identity.RemoteErrors
	if errors.As(err, &re) {
		request.RenderError(ctx, err)
		body, _ := json.Marshal(request.ErrorBody{Errors: append([]string{request.Message(err)}, re.Msgs()...)})
		ctx.SetBody(append(body, '\n'))
		return nil
	}
	return err
}

func (h *Handler) dispatch(ctx *fasthttp.RequestCtx) error {
	rest, ok := strings.CutPrefix(string(ctx.Path()), "/arvados/v1/")
	if !ok {
		return errNotFound
	}
	kindStr, sub, _ := strings.Cut(rest, "/")
	kind, ok := store.ParseKind(kindStr)
	contentsOf, isContents := "", false
	if ok && kind == store.Groups {
		// groups/contents?uuid=X and groups/X/contents
		if sub == "contents" {
			isContents = true
		} else if u, ok := strings.CutSuffix(sub, "/contents"); ok && !strings.Contains(u, "/") {
			contentsOf, isContents = u, true
		}
	}
	if !ok || kindStr != string(kind) || (strings.Contains(sub, "/") && !isContents) {
		return errNotFound
	}
	if string(ctx.Method()) == fasthttp.MethodOptions {
		return nil // CORS preflight (spec 7.4)
	}
	params, top, cut, err := readParams(ctx, kind.Singular())
	if err != nil {
		return err
	}
	r := &apiRequest{kind: kind, sub: sub, params: params, body: top, cut: cut, method: string(ctx.Method())}
	if (top != nil || cut != nil) && len(ctx.Request.Body()) > bigParam {
		// parsed into top and params: let a large body go now rather
		// than at the end of the request
		request.ReleaseBody(ctx)
	}
	if r.method == fasthttp.MethodPost {
		if o := ctx.Request.Header.Peek("X-Http-Method-Override"); len(o) > 0 {
			r.method = strings.ToUpper(string(o))
		} else if o := params["_method"]; o != "" {
			r.method = strings.ToUpper(o)
		}
	}
	r.token = request.Token(ctx)
	if r.token == "" {
		r.token = params["api_token"]
	}
	current := sub == "current" && (kind == store.Users || kind == store.APIClientAuthorizations)
	if r.method == fasthttp.MethodGet && (current || kind == store.Groups) {
		r.remote = params["remote"]
	}
	if current {
		h.id.CountCurrent()
	}
	if r.auth, err = h.id.Authenticate(r.token, r.remote); err != nil {
		return err
	}
	if err := identity.CheckScopes(r.auth, r.method, string(ctx.Path())); err != nil {
		return err
	}
	switch {
	case current:
		if r.method != fasthttp.MethodGet {
			return errMethod
		}
		return h.getCurrent(ctx, r)
	case isContents:
		if r.method != fasthttp.MethodGet {
			return errMethod
		}
		if contentsOf == "" {
			contentsOf = r.params["uuid"]
		}
		return h.contents(ctx, r, contentsOf)
	case sub == "":
		switch r.method {
		case fasthttp.MethodGet:
			return h.list(ctx, r)
		case fasthttp.MethodPost:
			return h.create(ctx, r)
		}
	default:
		switch r.method {
		case fasthttp.MethodGet:
			return h.get(ctx, r)
		case fasthttp.MethodPut, fasthttp.MethodPatch:
			return h.update(ctx, r)
		case fasthttp.MethodDelete:
			return h.delete(ctx, r)
		}
	}
	return errMethod
}

// setCORS sets the CORS headers of Arvados's API (spec 7.4).
func setCORS(h *fasthttp.ResponseHeader) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS, PROPFIND, PUT, POST, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range, X-Http-Method-Override")
	h.Set("Access-Control-Expose-Headers", "Content-Range")
	h.Set("Access-Control-Max-Age", "86486400")
}

// bigParam is the size above which a JSON object in a JSON body is kept
// only as its raw text (apiRequest.body), for attrs, and not also copied
// into the parameters.
const bigParam = 64 << 10

// readParams collects the query and body parameters, and a JSON object
// body's top-level values as they were sent (nil for other bodies), from
// which attrs takes top-level attributes.
func readParams(ctx *fasthttp.RequestCtx, wrapKey string) (params, map[string]json.RawMessage, *cutManifest, error) {
	p := params{}
	var top map[string]json.RawMessage
	var cut *cutManifest
	for k, v := range ctx.QueryArgs().All() {
		p[string(k)] = string(v)
	}
	ct, _, _ := strings.Cut(string(ctx.Request.Header.ContentType()), ";")
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "application/json":
		body := bytes.TrimSpace(ctx.PostBody())
		if len(body) == 0 {
			return p, nil, nil, nil
		}
		if len(body) > bigParam {
			// a large body is a large manifest: decode it once, here,
			// and the rest of the body as usual; in the body itself
			// when the body is this request's own buffer
			cutter := records.CutRecordManifest
			if request.OwnBody(ctx) != nil {
				cutter = records.CutRecordManifestInPlace
			}
			mt, rest, wrapped, found, err := cutter(body, wrapKey)
			switch {
			case errors.Is(err, records.ErrDuplicateKey):
				return nil, nil, nil, unprocessable("invalid request body: manifest_text or %s given twice", wrapKey)
			case err != nil:
				return nil, nil, nil, request.WrapError(fasthttp.StatusBadRequest, "invalid JSON request body", err)
			case found:
				body, cut = rest, &cutManifest{text: mt, wrapped: wrapped}
			}
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, nil, nil, request.WrapError(fasthttp.StatusBadRequest, "invalid JSON request body: "+err.Error(), err)
		}
		top = m
		for k, v := range m {
			var s string
			switch {
			case len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil:
				p[k] = s
			case len(v) > bigParam && v[0] == '{':
				// a large object (a record's attributes) stays in
				// the raw body map only, not copied a second time
			default:
				p[k] = string(v)
			}
		}
	case "application/x-www-form-urlencoded":
		return readForm(ctx, p, wrapKey)
	case "multipart/form-data":
		f, err := ctx.MultipartForm()
		if err != nil {
			return nil, nil, nil, request.WrapError(fasthttp.StatusBadRequest, "invalid multipart request body", err)
		}
		for k, vs := range f.Value {
			if len(vs) > 0 {
				p[k] = vs[0]
			}
		}
	}
	return p, top, cut, nil
}

// readForm adds the fields of a form body to p (the last of repeated
// names, as fasthttp.Args reads them). A large wrapKey field (the
// record's attributes as JSON text, what the Go SDK sends) has its
// manifest cut out as readParams does for a JSON body, decoded in the
// body itself when the body is this request's own, and the attributes
// are returned as the raw body map's wrapKey entry.
func readForm(ctx *fasthttp.RequestCtx, p params, wrapKey string) (params, map[string]json.RawMessage, *cutManifest, error) {
	own := request.OwnBody(ctx) != nil
	var top map[string]json.RawMessage
	var cut *cutManifest
	var err error
	records.EachFormField(ctx.PostBody(), func(k, v []byte) bool {
		key := string(records.AppendFormDecoded(nil, k))
		if key == wrapKey {
			top, cut = nil, nil // the last one counts
		}
		if key != wrapKey || len(v) <= bigParam {
			p[key] = string(records.AppendFormDecoded(nil, v))
			return true
		}
		if own {
			v = records.AppendFormDecoded(v[:0], v) // in place
		} else {
			v = records.AppendFormDecoded(make([]byte, 0, len(v)), v)
		}
		delete(p, key)
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '{' {
			p[key] = string(v) // attrs refuses it as it would any value
			return true
		}
		mt, rest, _, found, cerr := records.CutRecordManifestInPlace(v, "")
		switch {
		case errors.Is(cerr, records.ErrDuplicateKey):
			err = unprocessable("invalid %s parameter: manifest_text given twice", wrapKey)
			return false
		case cerr != nil:
			err = unprocessable("invalid %s parameter: want a JSON object of attributes", wrapKey)
			return false
		case found:
			v, cut = rest, &cutManifest{text: mt, wrapped: true}
		}
		top = map[string]json.RawMessage{key: v}
		return true
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return p, top, cut, nil
}

// ownsManifest reports whether mt is the manifest readParams cut out of
// the body (a buffer of this request's own, which may be changed).
func (r *apiRequest) ownsManifest(mt string) bool {
	return r.ownManifest != nil && len(mt) == len(r.ownManifest) && len(mt) > 0 && unsafe.StringData(mt) == unsafe.SliceData(r.ownManifest)
}

// cutManifest is a manifest readParams took out of a large JSON body
// (records.CutRecordManifest); wrapped says whether it was the wrapped
// attributes' or the top-level one.
type cutManifest struct {
	text    []byte
	wrapped bool
}

// unprocessable is a 422 with a client message.
func unprocessable(format string, args ...any) *request.HTTPError {
	return request.Errorf(fasthttp.StatusUnprocessableEntity, format, args...)
}

// attrs returns the record attributes of a create or update, in any of
// the shapes Arvados accepts: the parameter named after the type's
// singular ("collection"), as a JSON object in a JSON body or as JSON text
// in the query or a form; or, as Rails' parameter wrapping does, the
// top-level keys of a JSON body that are attributes of the type (what the
// Python SDK's save_new and arv-copy send). A request with neither is
// refused with 422 rather than answered with an empty record: nothing a
// client sent may be silently dropped.
func (r *apiRequest) attrs() (store.Record, error) {
	defer func() { r.body, r.cut = nil, nil }() // decoded: not needed again
	name := r.kind.Singular()
	// putBack restores a manifest readParams cut out of the body, when
	// it came from where these attributes did.
	putBack := func(rec store.Record, wrapped bool) store.Record {
		if r.cut != nil && r.cut.wrapped == wrapped && rec["manifest_text"] == "" {
			rec["manifest_text"] = unsafe.String(unsafe.SliceData(r.cut.text), len(r.cut.text))
			r.ownManifest = r.cut.text
		}
		return rec
	}
	if raw, ok := r.body[name]; ok && len(raw) > 0 && raw[0] == '{' {
		var rec store.Record
		if err := json.Unmarshal(raw, &rec); err != nil || rec == nil {
			return nil, unprocessable("invalid %s parameter: want a JSON object of attributes", name)
		}
		return putBack(rec, true), nil
	}
	if v, ok := r.params[name]; ok && strings.TrimSpace(v) != "" {
		var rec store.Record
		if err := json.Unmarshal([]byte(v), &rec); err != nil || rec == nil {
			return nil, unprocessable("invalid %s parameter: want a JSON object of attributes", name)
		}
		return rec, nil
	}
	rec := store.Record{}
	for k, raw := range r.body {
		if !r.kind.HasAttribute(k) {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, unprocessable("invalid value for %s attribute %q", name, k)
		}
		rec[k] = v
	}
	if len(rec) == 0 {
		return nil, unprocessable("no %s attributes in the request: send {\"%s\": {...}} or the attributes at the top level of a JSON body", name, name)
	}
	return putBack(rec, false), nil
}

// selectList returns the select parameter (a JSON array of attribute
// names), or nil.
func (r *apiRequest) selectList() ([]string, error) {
	v := strings.TrimSpace(r.params["select"])
	if v == "" {
		return nil, nil
	}
	var sel []string
	if err := json.Unmarshal([]byte(v), &sel); err != nil {
		return nil, unprocessable("invalid select parameter: want a JSON array of attribute names")
	}
	return sel, nil
}

// listOptions reads filters, where, limit, offset, order and select.
func (r *apiRequest) listOptions() (store.ListOptions, error) {
	var opts store.ListOptions
	var err error
	if f := r.params["filters"]; f != "" {
		if opts.Filters, err = store.ParseFilters([]byte(f)); err != nil {
			return opts, identity.StoreError(err)
		}
	}
	if w := strings.TrimSpace(r.params["where"]); w != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(w), &m); err != nil {
			return opts, unprocessable("invalid where parameter: want a JSON object")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			op := "="
			if _, isList := m[k].([]any); isList {
				op = "in"
			}
			opts.Filters = append(opts.Filters, store.Filter{Attr: k, Op: op, Operand: m[k]})
		}
	}
	if l := strings.TrimSpace(r.params["limit"]); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return opts, unprocessable("invalid limit %q", l)
		}
		if opts.Limit = n; n == 0 {
			opts.Limit = -1 // Arvados's limit=0: the count only
		}
	}
	if o := strings.TrimSpace(r.params["offset"]); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return opts, unprocessable("invalid offset %q", o)
		}
		opts.Offset = n
	}
	if o := strings.TrimSpace(r.params["order"]); o != "" {
		if strings.HasPrefix(o, "[") {
			if err := json.Unmarshal([]byte(o), &opts.Order); err != nil {
				return opts, unprocessable("invalid order parameter: want a JSON array of strings")
			}
		} else {
			for _, part := range strings.Split(o, ",") {
				if part = strings.TrimSpace(part); part != "" {
					opts.Order = append(opts.Order, part)
				}
			}
		}
	}
	return opts, nil
}

// storeSelect returns what to ask the store for given the client's select:
// unsigned_manifest_text is not a stored attribute, and signing needs
// manifest_text, trash_at and is_trashed.
func (r *apiRequest) storeSelect(sel []string) []string {
	if len(sel) == 0 {
		return nil
	}
	out := make([]string, 0, len(sel)+3)
	for _, f := range sel {
		if f != "unsigned_manifest_text" {
			out = append(out, f)
		}
	}
	if r.kind == store.Collections {
		out = append(out, "manifest_text", "trash_at", "is_trashed")
	}
	return out
}

// present shapes a stored record for the caller: collections get
// manifest_text signed for the caller's token (and unsigned_manifest_text
// when selected), tokens lose api_token when the caller used a salted token
// or asked with ?remote=, and select keeps only the chosen attributes.
func (h *Handler) present(r *apiRequest, rec store.Record, sel []string) store.Record {
	return h.presentSigned(r, rec, sel, true)
}

// presentSigned is present; with sign false a collection's manifest_text
// is left as stored (unsigned), for writeRecord to sign while it writes.
func (h *Handler) presentSigned(r *apiRequest, rec store.Record, sel []string, sign bool) store.Record {
	out := make(store.Record, len(rec)+1)
	for k, v := range rec {
		out[k] = v
	}
	switch r.kind {
	case store.Collections:
		mt := rec.StringAttr("manifest_text")
		if selected(sel, "unsigned_manifest_text") {
			out["unsigned_manifest_text"] = mt
		}
		_, has := rec["manifest_text"]
		if has && sign && (len(sel) == 0 || selected(sel, "manifest_text")) {
			out["manifest_text"] = h.signManifest(mt, r.token, rec)
		}
	case store.APIClientAuthorizations:
		if r.auth.Salted || r.remote != "" {
			out["api_token"] = nil
		}
	}
	if u := rec.UUID(); u != "" && r.kind != store.APIClientAuthorizations {
		out["href"] = "/" + string(r.kind) + "/" + u
	}
	if len(sel) > 0 {
		proj := make(store.Record, len(sel))
		for _, f := range sel {
			proj[f] = out[f]
		}
		return proj
	}
	return out
}

func selected(sel []string, name string) bool {
	for _, f := range sel {
		if f == name {
			return true
		}
	}
	return false
}

// signManifest signs every block of mt for token (spec 3.3) when
// Collections.BlobSigning is on, the collection is not trashed and mt is
// not empty; the expiry is now + BlobSigningTTL, or trash_at if earlier.
func (h *Handler) signManifest(mt, token string, rec store.Record) string {
	rw, ok := h.signer(mt, token, rec)
	if !ok {
		return mt
	}
	m := []byte(mt)
	return string(rw.Append(make([]byte, 0, rw.MaxLen(m)), m))
}

// signer returns the rewriter that signs rec's manifest mt for token, or
// false when it is returned as it is.
func (h *Handler) signer(mt, token string, rec store.Record) (manifest.Rewriter, bool) {
	if mt == "" || token == "" || !*h.cfg.Collections.BlobSigning || rec["is_trashed"] == true {
		return manifest.Rewriter{}, false
	}
	exp := h.now().Add(h.ring.TTL())
	if ta := rec.StringAttr("trash_at"); ta != "" {
		if t, err := time.Parse(time.RFC3339Nano, ta); err == nil && t.Before(exp) {
			exp = t
		}
	}
	return manifest.Sign(h.ring, token, exp.Unix()), true
}

// writeRecord writes one record as the answer. A collection's manifest is
// signed while the answer is written: the record is encoded with the
// stored (unsigned) manifest and the signatures are spliced into that
// JSON on the way into the response buffer, so a large manifest is held
// about twice (stored, answered) rather than four or five times.
func (h *Handler) writeRecord(ctx *fasthttp.RequestCtx, r *apiRequest, rec store.Record, sel []string) error {
	if r.kind != store.Collections {
		return writeJSON(ctx, h.present(r, rec, sel))
	}
	out := h.presentSigned(r, rec, sel, false)
	mt, has := out["manifest_text"].(string)
	rw, sign := h.signer(mt, r.token, rec)
	if !has || !sign {
		return writeJSON(ctx, out)
	}
	return writeSignedRecord(ctx, out, mt, rw)
}

// writeSignedRecord writes out with its manifest_text mt signed by rw,
// spliced in while the answer is written (a large one streamed).
func writeSignedRecord(ctx *fasthttp.RequestCtx, out store.Record, mt string, rw manifest.Rewriter) error {
	delete(out, "manifest_text")
	enc, err := json.Marshal(out)
	if err != nil {
		return request.WrapError(fasthttp.StatusInternalServerError, "internal server error", fmt.Errorf("encoding response: %w", err))
	}
	m := unsafeBytes(mt)
	const head = `{"manifest_text":"`
	tail := []byte{'"', '}', '\n'}
	if len(enc) > 2 {
		tail = append(append([]byte(`",`), enc[1:]...), '\n')
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	if len(m) > streamManifest {
		// a large manifest is signed and escaped a piece at a time
		// straight to the connection: no manifest-sized answer is
		// built. The request keeps its concurrency slot until the
		// stream ends, as a streamed block does.
		done := request.HoldSlot(ctx)
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			defer done()
			w.WriteString(head) //nolint:errcheck // a failed write ends the stream anyway
			if err := writeSignedJSON(w, rw, m); err == nil {
				w.Write(tail) //nolint:errcheck // as above
			}
		})
		return nil
	}
	dst := make([]byte, 0, len(head)+rw.MaxLen(m)+5*jsonesc.Count(m)+len(tail))
	dst = append(dst, head...)
	start := len(dst)
	dst = rw.Append(dst, m)
	dst = jsonesc.InPlace(dst, start)
	ctx.Response.SetBodyRaw(append(dst, tail...))
	return nil
}

// streamManifest is the manifest size above which writeRecord streams
// the answer; streamPiece how much of the manifest it signs at a time.
const (
	streamManifest = 1 << 20
	streamPiece    = 256 << 10
)

// writeSignedJSON writes m signed by rw and JSON-escaped to w, a piece at
// a time (manifest.PieceLen), which gives the output of signing m whole.
func writeSignedJSON(w io.Writer, rw manifest.Rewriter, m []byte) error {
	var signed, esc []byte
	for len(m) > 0 {
		cut := manifest.PieceLen(m, streamPiece)
		signed = rw.AppendSerial(signed[:0], m[:cut])
		esc = jsonesc.Append(esc[:0], signed)
		if _, err := w.Write(esc); err != nil {
			return err
		}
		m = m[cut:]
	}
	return nil
}

// unsafeBytes views s as bytes without copying; they must not be changed.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// checkManifest verifies and strips a collection's manifest_text (spec
// 3.4, 4.5): it must be a valid manifest, and with BlobSigning every block
// but the empty block must carry a valid +A signature for the caller's
// token, else 422 naming the first bad locator. The stored text is
// unsigned.
func (h *Handler) checkManifest(r *apiRequest, attrs store.Record) error {
	v, ok := attrs["manifest_text"]
	if !ok || v == nil {
		return nil
	}
	mt, ok := v.(string)
	if !ok {
		return unprocessable("invalid manifest_text: want a string")
	}
	m := unsafeBytes(mt)
	verify := func(string) error { return nil }
	if *h.cfg.Collections.BlobSigning {
		now := h.now().Unix()
		verify = func(loc string) error {
			if isEmptyBlock(loc) {
				return nil
			}
			if err := h.ring.Verify(loc, r.token, now); err != nil {
				return request.WrapError(fasthttp.StatusUnprocessableEntity,
					fmt.Sprintf("invalid signature on locator %s: %s", loc, signing.ErrorClass(err)), err)
			}
			return nil
		}
	}
	if err := manifest.EachLocator(m, verify); err != nil {
		var he *request.HTTPError
		if errors.As(err, &he) {
			return err
		}
		return request.WrapError(fasthttp.StatusUnprocessableEntity, "invalid manifest_text: "+err.Error(), err)
	}
	st := manifest.Strip(false)
	var stripped []byte
	if r.ownsManifest(mt) {
		// the manifest is this request's own buffer (cut out of the
		// body): strip it where it is. The serial engine writes each
		// token at or before where it read it, so nothing unread is
		// overwritten.
		stripped = st.AppendSerial(m[:0], m)
		r.ownManifest = nil
	} else {
		stripped = st.Append(make([]byte, 0, st.MaxLen(m)), m)
	}
	attrs["manifest_text"] = unsafe.String(unsafe.SliceData(stripped), len(stripped))
	return nil
}

// isEmptyBlock reports whether loc is the empty block, with any hints.
func isEmptyBlock(loc string) bool {
	rest, ok := strings.CutPrefix(loc, emptyBlock)
	return ok && (rest == "" || rest[0] == '+')
}

func (h *Handler) list(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	opts, err := r.listOptions()
	if err != nil {
		return err
	}
	sel, err := r.selectList()
	if err != nil {
		return err
	}
	opts.Select = r.storeSelect(sel)
	res, err := h.st.List(r.kind, opts, r.auth)
	if err != nil {
		return identity.StoreError(err)
	}
	for i, rec := range res.Items {
		res.Items[i] = h.present(r, rec, sel)
	}
	return writeJSON(ctx, res)
}

func (h *Handler) get(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	if r.kind == store.Collections && len(r.sub) >= 34 && r.sub[32] == '+' {
		return h.getByPDH(ctx, r)
	}
	sel, err := r.selectList()
	if err != nil {
		return err
	}
	rec, err := h.st.Get(r.kind, r.sub, r.auth)
	if err != nil {
		return identity.StoreError(err)
	}
	return h.writeRecord(ctx, r, rec, sel)
}

// getByPDH answers GET /arvados/v1/collections/<pdh> (spec 4.6): a
// readable collection with that content, as {uuid: <pdh>,
// portable_data_hash, manifest_text (signed), trash_at}.
func (h *Handler) getByPDH(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	rec, err := h.st.FindByPDH(r.sub, r.auth)
	if err != nil {
		return identity.StoreError(err)
	}
	pdh := rec.StringAttr("portable_data_hash")
	mt := rec.StringAttr("manifest_text")
	out := store.Record{
		"uuid":               pdh,
		"portable_data_hash": pdh,
		"manifest_text":      mt,
		"trash_at":           rec["trash_at"],
	}
	if rw, sign := h.signer(mt, r.token, rec); sign {
		return writeSignedRecord(ctx, out, mt, rw)
	}
	return writeJSON(ctx, out)
}

// writeAttrs returns the attributes of a create or update, a
// collection's manifest verified and stripped (checkManifest).
func (h *Handler) writeAttrs(r *apiRequest) (store.Record, error) {
	attrs, err := r.attrs()
	if err != nil {
		return nil, err
	}
	if r.kind == store.Collections {
		if err := h.checkManifest(r, attrs); err != nil {
			return nil, err
		}
	}
	return attrs, nil
}

func (h *Handler) create(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	attrs, err := h.writeAttrs(r)
	if err != nil {
		return err
	}
	if isTrue(r.params["ensure_unique_name"]) {
		if err := h.uniqueName(r, attrs); err != nil {
			return err
		}
	}
	sel, err := r.selectList()
	if err != nil {
		return err
	}
	rec, err := h.st.Create(r.kind, attrs, r.auth)
	if err != nil {
		return identity.StoreError(err)
	}
	return h.writeRecord(ctx, r, rec, sel)
}

// isTrue reads a boolean request parameter as Rails does.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "t", "yes":
		return true
	}
	return false
}

// uniqueName makes a new record's name unique among its owner's records of
// the same type, as ensure_unique_name does in Arvados: a taken name gets
// " (<creation time>)" appended.
func (h *Handler) uniqueName(r *apiRequest, attrs store.Record) error {
	name, _ := attrs["name"].(string)
	if name == "" || !r.kind.HasAttribute("name") {
		return nil
	}
	owner, _ := attrs["owner_uuid"].(string)
	if owner == "" {
		owner = r.auth.User.UUID
	}
	res, err := h.st.List(r.kind, store.ListOptions{
		Filters: []store.Filter{{Attr: "owner_uuid", Op: "=", Operand: owner}, {Attr: "name", Op: "=", Operand: name}},
		Limit:   1,
		Select:  []string{"uuid"},
	}, h.st.System())
	if err != nil {
		return identity.StoreError(err)
	}
	if res.ItemsAvailable > 0 {
		attrs["name"] = name + " (" + h.now().UTC().Format("2006-01-02T15:04:05.000Z") + ")"
	}
	return nil
}

func (h *Handler) update(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	attrs, err := h.writeAttrs(r)
	if err != nil {
		return err
	}
	sel, err := r.selectList()
	if err != nil {
		return err
	}
	rec, err := h.st.Update(r.kind, r.sub, attrs, r.auth)
	if err != nil {
		return identity.StoreError(err)
	}
	return h.writeRecord(ctx, r, rec, sel)
}

func (h *Handler) delete(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	sel, err := r.selectList()
	if err != nil {
		return err
	}
	rec, err := h.st.Delete(r.kind, r.sub, r.auth)
	if err != nil {
		return identity.StoreError(err)
	}
	return writeJSON(ctx, h.present(r, rec, sel))
}

// getCurrent answers users/current and api_client_authorizations/current
// for the caller's token.
func (h *Handler) getCurrent(ctx *fasthttp.RequestCtx, r *apiRequest) error {
	sys := h.st.System()
	if r.kind == store.Users {
		rec, err := h.st.Get(store.Users, r.auth.User.UUID, sys)
		if err != nil {
			return identity.StoreError(err)
		}
		return writeJSON(ctx, h.present(r, rec, nil))
	}
	rec, err := h.st.Get(store.APIClientAuthorizations, r.auth.Token.UUID, sys)
	if err != nil {
		if store.StatusOf(err) != fasthttp.StatusNotFound {
			return identity.StoreError(err)
		}
		// The SystemRootToken, the anonymous token or a token validated
		// by another cluster: not a stored record.
		t := r.auth.Token
		rec = store.Record{
			"kind":       store.APIClientAuthorizations.ArvadosKind(),
			"uuid":       t.UUID,
			"owner_uuid": t.OwnerUUID,
			"api_token":  nil,
			"expires_at": nil,
			"scopes":     t.Scopes,
		}
		if t.ExpiresAt != nil {
			rec["expires_at"] = store.FormatTime(*t.ExpiresAt)
		}
		if t.APIToken != "" && h.id.IsSystem(r.auth) {
			rec["api_token"] = t.APIToken
		}
	}
	return writeJSON(ctx, h.present(r, rec, nil))
}

// writeJSON writes v as a 200 JSON answer.
func writeJSON(ctx *fasthttp.RequestCtx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return request.WrapError(fasthttp.StatusInternalServerError, "internal server error", fmt.Errorf("encoding response: %w", err))
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
	return nil
}

var (
	errNotFound = request.NewError(fasthttp.StatusNotFound, "not found")
	errMethod   = request.NewError(fasthttp.StatusMethodNotAllowed, "method not allowed")
)

// ServeIssueToken is POST identity.TokenManagementPath. It mints tokens
// and admins, so only the SystemRootToken may call it (403 for any other
// token, the ManagementToken included: that one opens health and metrics
// only).
func (h *Handler) ServeIssueToken(ctx *fasthttp.RequestCtx) error {
	tok := request.Token(ctx)
	if tok == "" {
		return request.NewError(fasthttp.StatusUnauthorized, "Not logged in: issuing tokens needs the SystemRootToken")
	}
	if h.cfg.SystemRootToken == "" || !identity.SecretEqual(tok, h.cfg.SystemRootToken) {
		return request.NewError(fasthttp.StatusForbidden, "Forbidden: issuing tokens needs the SystemRootToken")
	}
	var req identity.IssueTokenRequest
	if b := bytes.TrimSpace(ctx.PostBody()); len(b) > 0 {
		if err := json.Unmarshal(b, &req); err != nil {
			return request.WrapError(fasthttp.StatusBadRequest, "invalid token request: "+err.Error(), err)
		}
	}
	it, err := identity.CreateUserToken(h.st, req, h.now())
	if err != nil {
		return identity.StoreError(err)
	}
	return writeJSON(ctx, it)
}
