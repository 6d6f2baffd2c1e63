package records

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/signing"
)

// routeKind says what the proxy does with a request.
type routeKind uint8

const (
	// routeLocal: not a record of another cluster; the local backend.
	routeLocal routeKind = iota
	// routeRemote: forward to route.cluster.
	routeRemote
	// routePDH: collection by portable data hash; local first, then every
	// remote.
	routePDH
	// routeList: a uuid list spanning clusters; split per cluster.
	routeList
)

// route is the classification of one request.
type route struct {
	kind routeKind
	// cluster is the target of routeRemote.
	cluster string
	// collection: the record type is collections (manifests get
	// rewritten).
	collection bool
	// typ is the record type segment of the path ("collections").
	typ string
	// pdh is the requested hash+size of routePDH (hints dropped).
	pdh string
	// uuids are the uuids of routeList grouped by cluster, clusters in
	// order of first appearance.
	uuids []clusterUUIDs
	// sel is the select parameter of routeList, raw.
	sel []byte
}

// clusterUUIDs are the uuids of one cluster in a federated list.
type clusterUUIDs struct {
	cluster string
	uuids   []string
}

// classify decides the route of req for the local cluster local:
//   - /arvados/v1/<type>/<uuid>[/...] (any type, 27-character uuid): the
//     uuid's cluster;
//   - POST /arvados/v1/<type>: the cluster_id parameter (query, form or
//     top-level key of a JSON body);
//   - GET /arvados/v1/collections/<pdh>[+hints]: routePDH;
//   - GET /arvados/v1/<type> whose filters are only uuid "="/"in" terms:
//     their single cluster, or routeList when they span several (400 when
//     the list limits are not met);
//   - anything else, and anything naming the local cluster: routeLocal.
//
// A POST with a _method parameter is classified as that method.
func classify(req *fasthttp.Request, local string, maxItems int) (route, error) {
	path := req.URI().Path()
	const prefix = "/arvados/v1/"
	if !bytes.HasPrefix(path, []byte(prefix)) {
		return route{}, nil
	}
	rest := path[len(prefix):]
	typ, id, sub := rest, []byte(nil), false
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		typ, id = rest[:i], rest[i+1:]
		if j := bytes.IndexByte(id, '/'); j >= 0 {
			sub = true
			id = id[:j]
		}
	}
	if len(typ) == 0 {
		return route{}, nil
	}
	rt := route{typ: string(typ), collection: string(typ) == "collections"}
	method := effectiveMethod(req)
	switch {
	case len(id) > 0:
		if isUUID(id) {
			if c := string(id[:5]); c != local {
				rt.kind, rt.cluster = routeRemote, c
			}
			return rt, nil
		}
		if rt.collection && !sub && method == "GET" {
			if pdh, ok := pdhOf(id); ok {
				rt.kind, rt.pdh = routePDH, pdh
			}
		}
		return rt, nil
	case sub:
		return route{}, nil
	case method == "POST":
		if c := clusterIDParam(req); c != "" && c != local {
			rt.kind, rt.cluster = routeRemote, c
		}
		return rt, nil
	case method == "GET":
		return classifyList(req, rt, local, maxItems)
	}
	return rt, nil
}

// isUUID reports whether id looks like an object uuid: 27 bytes, a cluster
// id, '-', 5 bytes, '-', 15 bytes.
func isUUID(id []byte) bool {
	return len(id) == 27 && id[5] == '-' && id[11] == '-' && signing.IsClusterID(string(id[:5]))
}

// pdhOf returns hash+size of a collection id that is a portable data hash
// with optional hints (32 hex digits, '+', decimal size, ['+' hints]).
func pdhOf(id []byte) (string, bool) {
	if len(id) < 34 || id[32] != '+' {
		return "", false
	}
	for _, c := range id[:32] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", false
		}
	}
	end := 33
	for end < len(id) && id[end] >= '0' && id[end] <= '9' {
		end++
	}
	if end == 33 || (end < len(id) && id[end] != '+') {
		return "", false
	}
	return strings.ToLower(string(id[:32])) + string(id[32:end]), true
}

// effectiveMethod is the request method, or for a POST the value of its
// _method parameter (query or form) when there is one.
func effectiveMethod(req *fasthttp.Request) string {
	m := string(req.Header.Method())
	if m != "POST" {
		return m
	}
	if v, ok := param(req, "_method"); ok && len(v) > 0 {
		return strings.ToUpper(string(v))
	}
	return m
}

// param returns a parameter from the query string or a form body.
func param(req *fasthttp.Request, name string) ([]byte, bool) {
	if args := req.URI().QueryArgs(); args.Has(name) {
		return args.Peek(name), true
	}
	if isForm(req) {
		return FormValue(req.Body(), name)
	}
	return nil, false
}

// clusterIDParam returns the cluster_id of a create request: query, form,
// or the top-level "cluster_id" key of a JSON body.
func clusterIDParam(req *fasthttp.Request) string {
	if v, ok := param(req, "cluster_id"); ok {
		return string(v)
	}
	body := bytes.TrimSpace(req.Body())
	if isForm(req) || len(body) == 0 || body[0] != '{' || !bytes.Contains(body, []byte("cluster_id")) {
		return ""
	}
	c, _ := JSONTopString(body, "cluster_id")
	return c
}

// classifyList looks at the filters of a list request: when they are only
// uuid "=" / "in" terms (intersected), all naming 27-character uuids, a
// single non-local cluster routes there and several clusters make a
// federated list, subject to the limits of spec 7.2.
func classifyList(req *fasthttp.Request, rt route, local string, maxItems int) (route, error) {
	raw, ok := param(req, "filters")
	if !ok || len(raw) == 0 {
		return rt, nil
	}
	var filters [][]json.RawMessage
	if json.Unmarshal(raw, &filters) != nil || len(filters) == 0 {
		return rt, nil
	}
	var set []string
	for i, f := range filters {
		uuids, ok := uuidTerm(f)
		if !ok {
			return rt, nil
		}
		if i == 0 {
			set = uuids
		} else {
			set = slices.DeleteFunc(set, func(u string) bool { return !slices.Contains(uuids, u) })
		}
	}
	var groups []clusterUUIDs
	for _, u := range set {
		if !isUUID([]byte(u)) {
			return rt, nil
		}
		c := u[:5]
		k := slices.IndexFunc(groups, func(g clusterUUIDs) bool { return g.cluster == c })
		if k < 0 {
			groups = append(groups, clusterUUIDs{cluster: c})
			k = len(groups) - 1
		}
		if !slices.Contains(groups[k].uuids, u) {
			groups[k].uuids = append(groups[k].uuids, u)
		}
	}
	switch {
	case len(groups) == 0:
		return rt, nil
	case len(groups) == 1:
		if groups[0].cluster != local {
			rt.kind, rt.cluster = routeRemote, groups[0].cluster
		}
		return rt, nil
	}
	if v, ok := param(req, "count"); ok && string(v) != "none" {
		return rt, errorf(fasthttp.StatusBadRequest, "federated list: count must be \"none\"")
	}
	for _, name := range []string{"limit", "offset", "order"} {
		if _, ok := param(req, name); ok {
			return rt, errorf(fasthttp.StatusBadRequest, "federated list: %s is not supported", name)
		}
	}
	if len(set) > maxItems {
		return rt, errorf(fasthttp.StatusBadRequest, "federated list: more than %d uuids", maxItems)
	}
	if sel, ok := param(req, "select"); ok {
		var fields []string
		if json.Unmarshal(sel, &fields) != nil || !slices.Contains(fields, "uuid") {
			return rt, errorf(fasthttp.StatusBadRequest, "federated list: select must include \"uuid\"")
		}
		rt.sel = sel
	}
	rt.kind, rt.uuids = routeList, groups
	return rt, nil
}

// uuidTerm returns the uuids of a ["uuid","=",x] or ["uuid","in",[...]]
// filter.
func uuidTerm(f []json.RawMessage) ([]string, bool) {
	if len(f) != 3 {
		return nil, false
	}
	var attr, op string
	if json.Unmarshal(f[0], &attr) != nil || attr != "uuid" || json.Unmarshal(f[1], &op) != nil {
		return nil, false
	}
	switch op {
	case "=":
		var u string
		if json.Unmarshal(f[2], &u) != nil {
			return nil, false
		}
		return []string{u}, true
	case "in":
		var us []string
		if json.Unmarshal(f[2], &us) != nil {
			return nil, false
		}
		return us, true
	}
	return nil, false
}
