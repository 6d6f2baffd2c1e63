package api

import (
	"strings"

	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/valyala/fasthttp"
)

// contentsKinds are the record types a project can hold, in the order
// groups/contents lists them (projects first, as Arvados does).
var contentsKinds = []store.Kind{store.Groups, store.Collections, store.Workflows}

// maxContentsDepth bounds the project tree a recursive contents request
// walks.
const maxContentsDepth = 64

// contents answers groups/contents and groups/<uuid>/contents: the
// readable projects, collections and workflows owned by owner (a user or
// a group; with recursive=true, by it and its subprojects; every readable
// one when owner is ""), as one arvados#objectList. The "is_a" filter
// ([["uuid","is_a",[kinds...]]]) chooses the types; the other filters,
// order and select apply to each type; offset and limit to the whole list.
// include=["owner_uuid"] adds the owners to "included".
func (h *Handler) contents(ctx *fasthttp.RequestCtx, r *apiRequest, owner string) error {
	opts, err := r.listOptions()
	if err != nil {
		return err
	}
	sel, err := r.selectList()
	if err != nil {
		return err
	}
	kinds, filters, err := splitIsA(opts.Filters)
	if err != nil {
		return err
	}
	if owner != "" {
		owners, err := h.contentOwners(r, owner, isTrue(r.params["recursive"]))
		if err != nil {
			return err
		}
		filters = append(filters, store.Filter{Attr: "owner_uuid", Op: "in", Operand: owners})
	}
	limit, offset := opts.Limit, opts.Offset
	if limit == 0 {
		limit = store.DefaultLimit
	}
	out := contentsList{Kind: "arvados#objectList", Offset: offset, Limit: max(limit, 0), Items: []store.Record{}, Included: []store.Record{}}
	for _, k := range contentsKinds {
		if !kinds[k] || !knowsAll(k, filters) {
			continue
		}
		ko := store.ListOptions{Filters: filters, Order: opts.Order, Select: r.storeSelect(sel)}
		// ask for what this page still needs, after skipping what
		// earlier types already covered of the offset
		ko.Limit = -1
		if limit > 0 && len(out.Items) < limit {
			ko.Limit = limit - len(out.Items) + max(offset-out.ItemsAvailable, 0)
		}
		res, err := h.st.List(k, ko, r.auth)
		if err != nil {
			return identity.StoreError(err)
		}
		skip := max(offset-out.ItemsAvailable, 0)
		out.ItemsAvailable += res.ItemsAvailable
		kr := *r
		kr.kind = k
		for i, rec := range res.Items {
			if i < skip || (limit > 0 && len(out.Items) >= limit) {
				continue
			}
			out.Items = append(out.Items, h.present(&kr, rec, sel))
		}
	}
	if strings.Contains(r.params["include"], "owner_uuid") {
		seen := map[string]bool{}
		for _, it := range out.Items {
			o := it.StringAttr("owner_uuid")
			if o == "" || seen[o] {
				continue
			}
			seen[o] = true
			ok, _ := store.KindOfUUID(o)
			if ok != store.Groups && ok != store.Users {
				continue
			}
			if rec, err := h.st.Get(ok, o, r.auth); err == nil {
				kr := *r
				kr.kind = ok
				out.Included = append(out.Included, h.present(&kr, rec, nil))
			}
		}
	}
	return writeJSON(ctx, out)
}

// contentsList is an arvados#objectList.
type contentsList struct {
	Kind           string         `json:"kind"`
	Offset         int            `json:"offset"`
	Limit          int            `json:"limit"`
	ItemsAvailable int            `json:"items_available"`
	Items          []store.Record `json:"items"`
	Included       []store.Record `json:"included"`
}

// splitIsA takes the "uuid is_a <kinds>" filters out of fs and returns the
// types they allow (every contents type when there is none).
func splitIsA(fs []store.Filter) (map[store.Kind]bool, []store.Filter, error) {
	kinds := map[store.Kind]bool{}
	for _, k := range contentsKinds {
		kinds[k] = true
	}
	var rest []store.Filter
	for _, f := range fs {
		if f.Op != "is_a" {
			rest = append(rest, f)
			continue
		}
		var names []string
		switch v := f.Operand.(type) {
		case string:
			names = []string{v}
		case []any:
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, nil, unprocessable("invalid is_a filter: want a kind or a list of kinds")
				}
				names = append(names, s)
			}
		default:
			return nil, nil, unprocessable("invalid is_a filter: want a kind or a list of kinds")
		}
		allowed := map[store.Kind]bool{}
		for _, n := range names {
			if k, ok := store.ParseKind(n); ok {
				allowed[k] = true
			}
		}
		for k := range kinds {
			kinds[k] = kinds[k] && allowed[k]
		}
	}
	return kinds, rest, nil
}

// knowsAll reports whether every filter names an attribute of k (a
// filter on another type's attribute leaves k out of the list).
func knowsAll(k store.Kind, fs []store.Filter) bool {
	for _, f := range fs {
		attr := f.Attr
		if i := strings.IndexByte(attr, '.'); i >= 0 {
			if attr[:i] != string(k) {
				return false
			}
			attr = attr[i+1:]
		}
		if !k.HasAttribute(attr) {
			return false
		}
	}
	return true
}

// contentOwners returns owner, which the caller must be able to read (404
// otherwise), and with recursive its readable subprojects.
func (h *Handler) contentOwners(r *apiRequest, owner string, recursive bool) ([]any, error) {
	k, ok := store.KindOfUUID(owner)
	if !ok || (k != store.Groups && k != store.Users) {
		return nil, request.Errorf(fasthttp.StatusNotFound, "group %s not found", owner)
	}
	if _, err := h.st.Get(k, owner, r.auth); err != nil {
		return nil, identity.StoreError(err)
	}
	owners := []any{owner}
	if !recursive {
		return owners, nil
	}
	level := []any{owner}
	for depth := 0; depth < maxContentsDepth && len(level) > 0; depth++ {
		res, err := h.st.List(store.Groups, store.ListOptions{
			Filters: []store.Filter{{Attr: "owner_uuid", Op: "in", Operand: level}, {Attr: "group_class", Op: "=", Operand: "project"}},
			Limit:   store.MaxLimit,
			Select:  []string{"uuid"},
		}, r.auth)
		if err != nil {
			return nil, identity.StoreError(err)
		}
		level = level[:0:0]
		for _, g := range res.Items {
			level = append(level, g.UUID())
		}
		owners = append(owners, level...)
	}
	return owners, nil
}
