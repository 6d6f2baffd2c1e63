package store

import (
	"fmt"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	proj := mustCreate(t, s, Groups, Record{"name": "P", "group_class": "project"}, a)
	var all []Record
	for i := range 7 {
		attrs := Record{"name": fmt.Sprintf("c%d", i), "replication_desired": i % 3}
		if i%2 == 0 {
			attrs["owner_uuid"] = proj.UUID()
		}
		if i == 3 {
			attrs["manifest_text"] = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n"
		}
		all = append(all, mustCreate(t, s, Collections, attrs, a))
	}
	uuid := func(i int) string { return all[i].UUID() }
	for _, tc := range []struct {
		name    string
		opts    ListOptions
		want    []string // names, in order
		avail   int
		status  int
		rawJSON string
	}{
		{name: "default order modified_at desc", want: []string{"c6", "c5", "c4", "c3", "c2", "c1", "c0"}, avail: 7},
		{name: "order name asc", opts: ListOptions{Order: []string{"name asc"}}, want: []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6"}, avail: 7},
		{name: "order table-qualified", opts: ListOptions{Order: []string{"collections.name"}}, want: []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6"}, avail: 7},
		{name: "order two keys", opts: ListOptions{Order: []string{"replication_desired desc", "name"}}, want: []string{"c2", "c5", "c1", "c4", "c0", "c3", "c6"}, avail: 7},
		{name: "limit offset", opts: ListOptions{Limit: 2, Offset: 1, Order: []string{"name"}}, want: []string{"c1", "c2"}, avail: 7},
		{name: "offset past end", opts: ListOptions{Offset: 10}, want: nil, avail: 7},
		{name: "count only", opts: ListOptions{Limit: -1}, want: nil, avail: 7},
		{name: "uuid =", opts: ListOptions{Filters: []Filter{{"uuid", "=", uuid(4)}}}, want: []string{"c4"}, avail: 1},
		{name: "uuid in", opts: ListOptions{Filters: []Filter{{"uuid", "in", []string{uuid(1), uuid(2), "zzzzz-4zz18-000000000000000"}}}, Order: []string{"name"}}, want: []string{"c1", "c2"}, avail: 2},
		{name: "uuid in with repeats", opts: ListOptions{Filters: []Filter{{"uuid", "in", []string{uuid(1), uuid(1)}}, {"name", "=", "c1"}}}, want: []string{"c1"}, avail: 1},
		{name: "uuid = null", opts: ListOptions{Filters: []Filter{{"uuid", "=", nil}}}, want: nil, avail: 0},
		{name: "uuid = and another filter", opts: ListOptions{Filters: []Filter{{"uuid", "=", uuid(1)}, {"name", "=", "c2"}}}, want: nil, avail: 0},
		{name: "owner !=", opts: ListOptions{Filters: []Filter{{"owner_uuid", "!=", proj.UUID()}}, Order: []string{"name"}}, want: []string{"c1", "c3", "c5"}, avail: 3},
		{name: "owner not in", opts: ListOptions{Filters: []Filter{{"owner_uuid", "not in", []any{a.User.UUID}}}, Order: []string{"name"}}, want: []string{"c0", "c2", "c4", "c6"}, avail: 4},
		{name: "pdh", opts: ListOptions{Filters: []Filter{{"portable_data_hash", "=", "1f4b0bc7583c2a7f9102c395f4ffc5e3+45"}}}, want: []string{"c3"}, avail: 1},
		{name: "name and owner", opts: ListOptions{Filters: []Filter{{"name", "in", []any{"c0", "c1"}}, {"owner_uuid", "=", proj.UUID()}}}, want: []string{"c0"}, avail: 1},
		{name: "like", opts: ListOptions{Filters: []Filter{{"name", "like", "c_"}}, Limit: 1, Order: []string{"name desc"}}, want: []string{"c6"}, avail: 7},
		{name: "ilike", opts: ListOptions{Filters: []Filter{{"name", "ilike", "%5"}}}, want: []string{"c5"}, avail: 1},
		{name: "number >=", opts: ListOptions{Filters: []Filter{{"replication_desired", ">=", 2}}, Order: []string{"name"}}, want: []string{"c2", "c5"}, avail: 2},
		{name: "time <", opts: ListOptions{Filters: []Filter{{"created_at", "<", all[2].StringAttr("created_at")}}, Order: []string{"name"}}, want: []string{"c0", "c1"}, avail: 2},
		{name: "null =", opts: ListOptions{Filters: []Filter{{"trash_at", "=", nil}}, Limit: 1}, want: []string{"c6"}, avail: 7},
		{name: "unknown attribute", opts: ListOptions{Filters: []Filter{{"nope", "=", "x"}}}, status: 422},
		{name: "unknown operator", opts: ListOptions{Filters: []Filter{{"name", "~", "x"}}}, status: 422},
		{name: "in needs array", opts: ListOptions{Filters: []Filter{{"name", "in", "c1"}}}, status: 422},
		{name: "= needs scalar", opts: ListOptions{Filters: []Filter{{"name", "=", []any{"c1"}}}}, status: 422},
		{name: "bad order attribute", opts: ListOptions{Order: []string{"nope desc"}}, status: 422},
		{name: "bad order direction", opts: ListOptions{Order: []string{"name sideways"}}, status: 422},
		{name: "bad select", opts: ListOptions{Select: []string{"nope"}}, status: 422},
		{name: "bad offset", opts: ListOptions{Offset: -1}, status: 422},
		{name: "json filters", rawJSON: `[["name","=","c2"]]`, want: []string{"c2"}, avail: 1},
		{name: "json single filter", rawJSON: `["name","in",["c2","c3"]]`, opts: ListOptions{Order: []string{"name"}}, want: []string{"c2", "c3"}, avail: 2},
		{name: "json bad", rawJSON: `[["name","="]]`, status: 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if tc.rawJSON != "" {
				f, err := ParseFilters([]byte(tc.rawJSON))
				if err != nil {
					wantStatus(t, err, tc.status)
					return
				}
				opts.Filters = f
			}
			l, err := s.List(Collections, opts, a)
			wantStatus(t, err, tc.status)
			if err != nil {
				return
			}
			var got []string
			for _, r := range l.Items {
				got = append(got, r.StringAttr("name"))
			}
			if !equalStrings(got, tc.want) || l.ItemsAvailable != tc.avail {
				t.Fatalf("got %v (%d available), want %v (%d)", got, l.ItemsAvailable, tc.want, tc.avail)
			}
			if l.Kind != "arvados#collectionList" || l.Items == nil {
				t.Fatalf("list shape %+v", l)
			}
		})
	}
	l, err := s.List(Collections, ListOptions{Select: []string{"uuid", "name"}, Limit: 1}, a)
	if err != nil || len(l.Items) != 1 || len(l.Items[0]) != 2 || l.Limit != 1 {
		t.Fatalf("select: %+v %v", l, err)
	}
	l, err = s.List(Collections, ListOptions{}, a)
	if err != nil || l.Limit != DefaultLimit {
		t.Fatalf("default limit %d", l.Limit)
	}
	l, _ = s.List(Collections, ListOptions{Limit: 5000}, a)
	if l.Limit != MaxLimit {
		t.Fatalf("max limit %d", l.Limit)
	}
	if f, err := ParseFilters(nil); err != nil || f != nil {
		t.Fatal("empty filters")
	}
}

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"abc", "abc", true}, {"abc", "a%", true}, {"abc", "%c", true}, {"abc", "%b%", true},
		{"abc", "a_c", true}, {"abc", "a_", false}, {"", "%", true}, {"a%c", `a\%c`, true},
		{"abc", `a\%c`, false}, {"abc", "%%%", true}, {"abc", "abcd", false}, {"abc", "ab", false},
		{strings.Repeat("a", 200), strings.Repeat("%a", 50) + "b", false}, {"a_c", `a\_c`, true}, {"abc", `a\_c`, false},
	} {
		if got := likeMatch(c.s, c.p); got != c.want {
			t.Errorf("likeMatch(%q, %q) = %v", c.s, c.p, got)
		}
	}
}

func FuzzParseFilters(f *testing.F) {
	for _, s := range []string{
		`[["name","=","x"]]`, `["uuid","in",["a","b"]]`, `[["name","like","%a_"]]`,
		`[["replication_desired",">=",2]]`, `[]`, `[[]]`, `[["a","b"]]`, `{"a":1}`, `[["name","not in",[null,true,1]]]`,
	} {
		f.Add(s)
	}
	rec := Record{"name": "abc", "uuid": "zzzzz-4zz18-0123456789abcde", "replication_desired": 2.0, "trash_at": nil, "is_trashed": false}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := ParseFilters([]byte(s))
		if err != nil {
			if StatusOf(err) != 422 {
				t.Fatalf("ParseFilters(%q): %v", s, err)
			}
			return
		}
		c, err := compileFilters(kinds[Collections], fs)
		if err != nil {
			if StatusOf(err) != 422 {
				t.Fatalf("compile %q: %v", s, err)
			}
			return
		}
		matchAll(c, rec)
	})
}
