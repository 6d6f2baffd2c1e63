package store

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Filter is one Arvados list filter, [attr, op, operand] in JSON.
//
// Operators: "=", "!=" (also "<>"), "in", "not in" (operand an array),
// "<", "<=", ">", ">=" (strings, including timestamps, and numbers),
// "like" and "ilike" (SQL patterns: % any run, _ any one character).
// Attributes: any attribute of the record type. Values compare as JSON
// values do: a string never equals a number.
type Filter struct {
	Attr    string
	Op      string
	Operand any
}

// DefaultLimit is the page size when ListOptions.Limit is 0; MaxLimit caps
// larger requests.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ListOptions selects and orders the records List returns.
type ListOptions struct {
	Filters []Filter
	// Limit is the page size: 0 means DefaultLimit, more than MaxLimit
	// means MaxLimit, negative means no items at all (only the count, as
	// Arvados's limit=0).
	Limit  int
	Offset int
	// Order is a list of "attr", "attr asc" or "attr desc"; default
	// "modified_at desc". Ties are broken by uuid ascending.
	Order []string
	// Select, if not empty, keeps only these attributes in the items.
	Select []string
}

// ListResult is a page of records, shaped as Arvados's list responses.
type ListResult struct {
	Kind           string   `json:"kind"`
	Offset         int      `json:"offset"`
	Limit          int      `json:"limit"`
	ItemsAvailable int      `json:"items_available"`
	Items          []Record `json:"items"`
}

// ParseFilters decodes the JSON of Arvados's filters parameter: an array
// of [attr, op, operand] arrays, or a single such array.
func ParseFilters(data []byte) ([]Filter, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	var raw []any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, badRequest("invalid filters: %v", err)
	}
	if len(raw) > 0 {
		if _, single := raw[0].(string); single {
			raw = []any{raw}
		}
	}
	out := make([]Filter, 0, len(raw))
	for _, r := range raw {
		f, ok := r.([]any)
		if !ok || len(f) != 3 {
			return nil, badRequest("invalid filter %s: want [attribute, operator, operand]", shortValue(r))
		}
		attr, ok1 := f[0].(string)
		op, ok2 := f[1].(string)
		if !ok1 || !ok2 {
			return nil, badRequest("invalid filter %s: attribute and operator must be strings", shortValue(r))
		}
		out = append(out, Filter{Attr: attr, Op: op, Operand: f[2]})
	}
	return out, nil
}

// List returns the records of the given kind that by may read and that
// match every filter, ordered and paged as opts says, with the number of
// matching records in ItemsAvailable.
func (s *Store) List(kind Kind, opts ListOptions, by Authorization) (ListResult, error) {
	ki, err := kindOf(kind)
	if err != nil {
		return ListResult{}, err
	}
	filters, err := compileFilters(ki, opts.Filters)
	if err != nil {
		return ListResult{}, err
	}
	order, err := parseOrder(ki, opts.Order)
	if err != nil {
		return ListResult{}, err
	}
	for _, f := range opts.Select {
		if _, ok := ki.fields[f]; !ok {
			return ListResult{}, badRequest("invalid select: unknown attribute %q for %s", f, ki.singular)
		}
	}
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	case limit < 0:
		limit = 0
	}
	if opts.Offset < 0 {
		return ListResult{}, badRequest("invalid offset %d", opts.Offset)
	}
	res := ListResult{Kind: kind.ListKind(), Offset: opts.Offset, Limit: limit, Items: []Record{}}
	var all []Record
	err = s.view("list "+string(kind), func(tx *bolt.Tx) error {
		a, err := s.actorOf(tx, by)
		if err != nil {
			return err
		}
		perms := s.permsFor(tx, a)
		b := tx.Bucket(ki.bucket)
		visit := func(k, v []byte) error {
			rec, err := decodeRecord(ki, string(k), v)
			if err != nil {
				return err
			}
			if !matchAll(filters, rec) || perms.levelOf(ki, rec) < canRead {
				return nil
			}
			all = append(all, rec)
			return nil
		}
		keys, ok := candidates(tx, ki, filters)
		if !ok {
			return b.ForEach(visit)
		}
		for _, k := range keys {
			if v := b.Get(k); v != nil {
				if err := visit(k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return ListResult{}, err
	}
	sort.SliceStable(all, func(i, j int) bool { return order.less(all[i], all[j]) })
	res.ItemsAvailable = len(all)
	if opts.Offset < len(all) {
		page := all[opts.Offset:]
		res.Items = page[:min(limit, len(page))]
	}
	if len(opts.Select) > 0 {
		for i, r := range res.Items {
			sel := make(Record, len(opts.Select))
			for _, f := range opts.Select {
				sel[f] = r[f]
			}
			res.Items[i] = sel
		}
	}
	return res, nil
}

// candidates returns the only keys that can match when a filter pins the
// uuid (=, in) or, for collections, the portable data hash (=), so List
// need not scan the whole bucket; ok is false when every record must be
// looked at.
func candidates(tx *bolt.Tx, ki *kindInfo, fs []compiled) (keys [][]byte, ok bool) {
	for _, f := range fs {
		switch {
		case f.Attr == "uuid" && f.Op == "=":
			if u, isStr := f.Operand.(string); isStr && u != "" {
				return [][]byte{[]byte(u)}, true
			}
			return nil, true
		case f.Attr == "uuid" && f.Op == "in":
			seen := make(map[string]bool, len(f.list))
			for _, o := range f.list {
				if u, isStr := o.(string); isStr && !seen[u] {
					seen[u] = true
					keys = append(keys, []byte(u))
				}
			}
			return keys, true
		case ki.kind == Collections && f.Attr == "portable_data_hash" && f.Op == "=":
			pdh, _ := f.Operand.(string)
			prefix := []byte(pdh + "\x00")
			c := tx.Bucket(idxCollectionPDH).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k[len(prefix):]...))
			}
			return keys, true
		}
	}
	return nil, false
}

// compiled is a checked filter.
type compiled struct {
	Filter
	list []any // operand of in / not in
}

func compileFilters(ki *kindInfo, fs []Filter) ([]compiled, error) {
	out := make([]compiled, 0, len(fs))
	for _, f := range fs {
		if _, ok := ki.fields[f.Attr]; !ok {
			return nil, badRequest("invalid filter: unknown attribute %q for %s", f.Attr, ki.singular)
		}
		c := compiled{Filter: f}
		c.Op = strings.ToLower(c.Op)
		operand, err := jsonValue(f.Operand)
		if err != nil {
			return nil, badRequest("invalid filter operand %s: %v", shortValue(f.Operand), err)
		}
		c.Operand = operand
		switch c.Op {
		case "=", "!=", "<>":
			if !isScalar(operand) {
				return nil, badRequest("invalid filter on %q: operator %s needs a string, number, boolean or null", f.Attr, f.Op)
			}
		case "in", "not in":
			l, ok := operand.([]any)
			if !ok {
				return nil, badRequest("invalid filter on %q: operator %s needs an array", f.Attr, f.Op)
			}
			c.list = l
		case "<", "<=", ">", ">=":
			switch operand.(type) {
			case string, float64:
			default:
				return nil, badRequest("invalid filter on %q: operator %s needs a string or number", f.Attr, f.Op)
			}
		case "like", "ilike":
			if _, ok := operand.(string); !ok {
				return nil, badRequest("invalid filter on %q: operator %s needs a string", f.Attr, f.Op)
			}
		default:
			return nil, badRequest("invalid filter operator %q", f.Op)
		}
		out = append(out, c)
	}
	return out, nil
}

// jsonValue brings a Go operand into encoding/json's value forms.
func jsonValue(v any) (any, error) {
	switch v.(type) {
	case nil, string, bool, float64:
		return v, nil
	}
	var out any
	err := jsonRoundTrip(v, &out)
	return out, err
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, string, bool, float64:
		return true
	}
	return false
}

func matchAll(fs []compiled, rec Record) bool {
	for i := range fs {
		if !fs[i].match(rec[fs[i].Attr]) {
			return false
		}
	}
	return true
}

func (c *compiled) match(v any) bool {
	switch c.Op {
	case "=":
		return scalarEqual(v, c.Operand)
	case "!=", "<>":
		return !scalarEqual(v, c.Operand)
	case "in", "not in":
		in := false
		for _, o := range c.list {
			if scalarEqual(v, o) {
				in = true
				break
			}
		}
		return in == (c.Op == "in")
	case "<", "<=", ">", ">=":
		cmp, ok := compareValues(v, c.Operand)
		if !ok {
			return false
		}
		switch c.Op {
		case "<":
			return cmp < 0
		case "<=":
			return cmp <= 0
		case ">":
			return cmp > 0
		}
		return cmp >= 0
	case "like", "ilike":
		s, ok := v.(string)
		if !ok {
			return false
		}
		p := c.Operand.(string)
		if c.Op == "ilike" {
			s, p = strings.ToLower(s), strings.ToLower(p)
		}
		return likeMatch(s, p)
	}
	return false
}

// scalarEqual compares a stored value with a scalar operand.
func scalarEqual(v, o any) bool {
	if !isScalar(v) || !isScalar(o) {
		return false
	}
	return v == o
}

// compareValues orders two strings or two numbers.
func compareValues(a, b any) (int, bool) {
	switch a := a.(type) {
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b), true
		}
	case float64:
		if b, ok := b.(float64); ok {
			switch {
			case a < b:
				return -1, true
			case a > b:
				return 1, true
			}
			return 0, true
		}
	}
	return 0, false
}

// likeMatch matches s against an SQL LIKE pattern (% any run, _ any one
// byte, backslash escapes the next character), in O(len(s)·len(p)) at
// worst: the classic wildcard match that backtracks only to the last %.
func likeMatch(s, p string) bool {
	const (
		litByte = iota
		oneByte
		anyRun
	)
	type elem struct {
		op int
		c  byte
	}
	pat := make([]elem, 0, len(p))
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%':
			pat = append(pat, elem{op: anyRun})
		case c == '_':
			pat = append(pat, elem{op: oneByte})
		case c == '\\' && i+1 < len(p):
			i++
			pat = append(pat, elem{op: litByte, c: p[i]})
		default:
			pat = append(pat, elem{op: litByte, c: c})
		}
	}
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pat) && (pat[pi].op == oneByte || (pat[pi].op == litByte && pat[pi].c == s[si])):
			si++
			pi++
		case pi < len(pat) && pat[pi].op == anyRun:
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi].op == anyRun {
		pi++
	}
	return pi == len(pat)
}

// orderBy is a parsed order list.
type orderBy []orderKey

type orderKey struct {
	attr string
	desc bool
}

func parseOrder(ki *kindInfo, order []string) (orderBy, error) {
	if len(order) == 0 {
		order = []string{"modified_at desc"}
	}
	out := make(orderBy, 0, len(order)+1)
	for _, o := range order {
		f := strings.Fields(o)
		if len(f) == 0 || len(f) > 2 {
			return nil, badRequest("invalid order %q", o)
		}
		k := orderKey{attr: f[0]}
		// Arvados clients sometimes qualify with the table name.
		if i := strings.IndexByte(k.attr, '.'); i >= 0 {
			k.attr = k.attr[i+1:]
		}
		if _, ok := ki.fields[k.attr]; !ok {
			return nil, badRequest("invalid order: unknown attribute %q for %s", k.attr, ki.singular)
		}
		if len(f) == 2 {
			switch strings.ToLower(f[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, badRequest("invalid order %q: direction must be asc or desc", o)
			}
		}
		out = append(out, k)
	}
	return append(out, orderKey{attr: "uuid"}), nil
}

func (ob orderBy) less(a, b Record) bool {
	for _, k := range ob {
		c := orderCompare(a[k.attr], b[k.attr])
		if c == 0 {
			continue
		}
		if k.desc {
			return c > 0
		}
		return c < 0
	}
	return false
}

// orderCompare orders values: null first, then false < true, numbers,
// strings; other values compare equal.
func orderCompare(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch a := a.(type) {
	case bool:
		if a == b.(bool) {
			return 0
		}
		if !a {
			return -1
		}
		return 1
	}
	c, _ := compareValues(a, b)
	return c
}

func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case float64:
		return 2
	case string:
		return 3
	}
	return 4
}
