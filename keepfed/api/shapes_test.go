package api

import (
	"encoding/json"
	"testing"

	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttrsShapes covers every way a create or update carries its
// attributes (the request decoding itself is covered through the server
// in keepfed/recordsapi_test.go and conformance_test.go).
func TestAttrsShapes(t *testing.T) {
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	cases := []struct {
		name    string
		params  params
		body    map[string]json.RawMessage
		want    store.Record
		wantErr string
	}{
		{"wrapped object", params{"collection": `{"name":"a"}`}, nil, store.Record{"name": "a"}, ""},
		{"wrapped wins over top level", params{"collection": `{"name":"a"}`, "name": "b"}, raw(`{"collection":{"name":"a"},"name":"b"}`), store.Record{"name": "a"}, ""},
		{"top level attributes only", params{"name": "b", "ensure_unique_name": "true"}, raw(`{"name":"b","manifest_text":"","ensure_unique_name":true,"replication_desired":null}`),
			store.Record{"name": "b", "manifest_text": "", "replication_desired": nil}, ""},
		{"round-trip keys count as attributes", nil, raw(`{"kind":"arvados#collection","etag":"x"}`), store.Record{"kind": "arvados#collection", "etag": "x"}, ""},
		{"wrapped but not an object", params{"collection": `[1]`}, nil, nil, "invalid collection parameter"},
		{"wrapped null", params{"collection": `null`}, nil, nil, "invalid collection parameter"},
		{"nothing", nil, nil, nil, "no collection attributes"},
		{"only request parameters", params{"select": `["uuid"]`}, raw(`{"select":["uuid"],"alt":"json"}`), nil, "no collection attributes"},
		{"a misspelt wrapper", nil, raw(`{"colection":{"name":"x"}}`), nil, "no collection attributes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &apiRequest{kind: store.Collections, params: c.params, body: c.body}
			got, err := r.attrs()
			if c.wantErr != "" {
				assert.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestSplitIsA(t *testing.T) {
	cases := []struct {
		name    string
		filters []store.Filter
		want    []store.Kind
		rest    int
		wantErr bool
	}{
		{"none: every contents type", nil, []store.Kind{store.Groups, store.Collections, store.Workflows}, 0, false},
		{"a list", []store.Filter{{Attr: "uuid", Op: "is_a", Operand: []any{"arvados#collection", "arvados#group"}}}, []store.Kind{store.Groups, store.Collections}, 0, false},
		{"one kind and another filter", []store.Filter{{Attr: "uuid", Op: "is_a", Operand: "arvados#workflow"}, {Attr: "name", Op: "=", Operand: "x"}}, []store.Kind{store.Workflows}, 1, false},
		{"two is_a filters intersect", []store.Filter{{Attr: "uuid", Op: "is_a", Operand: []any{"arvados#collection", "arvados#group"}}, {Attr: "uuid", Op: "is_a", Operand: "arvados#group"}}, []store.Kind{store.Groups}, 0, false},
		{"unknown kind matches nothing", []store.Filter{{Attr: "uuid", Op: "is_a", Operand: "arvados#containerRequest"}}, nil, 0, false},
		{"bad operand", []store.Filter{{Attr: "uuid", Op: "is_a", Operand: 3.0}}, nil, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kinds, rest, err := splitIsA(c.filters)
			if c.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			var got []store.Kind
			for _, k := range contentsKinds {
				if kinds[k] {
					got = append(got, k)
				}
			}
			assert.Equal(t, c.want, got)
			assert.Len(t, rest, c.rest)
		})
	}
	assert.True(t, knowsAll(store.Collections, []store.Filter{{Attr: "name"}, {Attr: "collections.portable_data_hash"}}))
	assert.False(t, knowsAll(store.Groups, []store.Filter{{Attr: "portable_data_hash"}}))
	assert.False(t, knowsAll(store.Groups, []store.Filter{{Attr: "collections.name"}}))
}

func TestIsTrue(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "True": true, "1": true, "t": true, "false": false, "": false, "0": false, "no": false} {
		assert.Equal(t, want, isTrue(v), v)
	}
}
