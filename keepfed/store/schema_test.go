package store

import (
	"encoding/json"
	"testing"
	"time"
)

func TestKinds(t *testing.T) {
	for _, c := range []struct {
		kind            Kind
		arv, infix, lst string
	}{
		{Users, "arvados#user", "tpzed", "arvados#userList"},
		{APIClientAuthorizations, "arvados#apiClientAuthorization", "gj3su", "arvados#apiClientAuthorizationList"},
		{Groups, "arvados#group", "j7d0g", "arvados#groupList"},
		{Links, "arvados#link", "o0j2j", "arvados#linkList"},
		{Collections, "arvados#collection", "4zz18", "arvados#collectionList"},
		{Workflows, "arvados#workflow", "7fd4e", "arvados#workflowList"},
	} {
		if c.kind.ArvadosKind() != c.arv || c.kind.Infix() != c.infix || c.kind.ListKind() != c.lst {
			t.Errorf("%s: %s %s %s", c.kind, c.kind.ArvadosKind(), c.kind.Infix(), c.kind.ListKind())
		}
		for _, name := range []string{string(c.kind), c.arv} {
			if k, ok := ParseKind(name); !ok || k != c.kind {
				t.Errorf("ParseKind(%s) = %s, %v", name, k, ok)
			}
		}
		if k, ok := KindOfUUID("zzzzz-" + c.infix + "-0123456789abcde"); !ok || k != c.kind {
			t.Errorf("KindOfUUID for %s = %s, %v", c.infix, k, ok)
		}
	}
	for _, bad := range []string{"", "pipelines", "arvados#pipeline", "Collections"} {
		if _, ok := ParseKind(bad); ok {
			t.Errorf("ParseKind(%q) ok", bad)
		}
	}
	for _, bad := range []string{"zzzzz-dz642-0123456789abcde", "zzzzz-4zz18-0123456789abcd", "ZZZZZ-4zz18-0123456789abcde", "zzzzz_4zz18-0123456789abcde"} {
		if _, ok := KindOfUUID(bad); ok {
			t.Errorf("KindOfUUID(%q) ok", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	ki := kinds[Collections]
	when := time.Date(2026, 11, 24, 10, 0, 0, 5, time.FixedZone("x", -3600))
	for _, c := range []struct {
		t    fieldType
		in   any
		want string // JSON of the result; "" = error
	}{
		{fString, "a", `"a"`}, {fString, nil, `""`}, {fString, 1, ""},
		{fNullString, nil, `null`}, {fNullString, true, ""},
		{fBool, false, `false`}, {fBool, "false", ""},
		{fTime, when, `"2026-11-24T11:00:00.000000005Z"`}, {fTime, &when, `"2026-11-24T11:00:00.000000005Z"`},
		{fTime, (*time.Time)(nil), `null`}, {fTime, "2026-11-24T10:00:00Z", `"2026-11-24T10:00:00.000000000Z"`},
		{fTime, "", `null`}, {fTime, "yesterday", ""}, {fTime, 5, ""},
		{fObject, map[string]any{"a": []int{1}}, `{"a":[1]}`}, {fObject, nil, `{}`}, {fObject, []any{}, ""},
		{fStrings, []string{"x"}, `["x"]`}, {fStrings, []any{"x", 1}, ""}, {fStrings, nil, `[]`},
		{fNullInt, 3, `3`}, {fNullInt, int64(3), `3`}, {fNullInt, 3.0, `3`}, {fNullInt, json.Number("4"), `4`},
		{fNullInt, 3.5, ""}, {fNullInt, "3", ""}, {fNullInt, nil, `null`},
	} {
		got, err := normalize(ki, "x", c.t, c.in)
		if c.want == "" {
			if err == nil || StatusOf(err) != 422 {
				t.Errorf("normalize(%d, %#v) = %#v, %v; want 422", c.t, c.in, got, err)
			}
			continue
		}
		b, _ := json.Marshal(got)
		if err != nil || string(b) != c.want {
			t.Errorf("normalize(%d, %#v) = %s, %v; want %s", c.t, c.in, b, err, c.want)
		}
	}
}
