package records

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/keepfed/keepfed/manifest"
)

// FuzzAppendRecordManifests: the record-level splicer never panics; on
// success its output is valid JSON equal to the input decoded with only
// the top-level manifest_text and the items' top-level manifest_text
// rewritten (the decode-everything reference).
func FuzzAppendRecordManifests(f *testing.F) {
	for _, s := range []string{
		`{"manifest_text":". ` + locB + ` 0:3:foo\n"}`,
		`{"properties":{"manifest_text":". ` + locB + ` 0:3:x\n"},"manifest_text":null}`,
		`{"items":[{"manifest_text":". ` + locB + ` 0:3:a\n","x":{"manifest_text":". ` + locB + ` 0:3:b\n"}}]}`,
		`{"manifest_text":"a","manifest\u005ftext":"b"}`,
		`{"items":[],"items":[]}`,
		`[{"manifest_text":". ` + locB + ` 0:3:foo\n"}]`,
		`{"items":{"manifest_text":"x"}}`,
		`{"manifest_text":`,
	} {
		f.Add([]byte(s))
	}
	rw := manifest.ToRemote(idB)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := AppendRecordManifests(nil, in, rw)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, in)
		}
		if !utf8.Valid(in) {
			return // the decoder replaces bad bytes; the splicer keeps them
		}
		// Numbers as json.Number: a huge one is valid JSON but no float64.
		decode := func(b []byte, v *any) error {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			return d.Decode(v)
		}
		var want, got any
		if decode(in, &want) != nil || decode(out, &got) != nil {
			t.Fatalf("decode failed: %q -> %q", in, out)
		}
		rewriteRef(want, rw)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("in %q\nout %q\nwant %#v", in, out, want)
		}
	})
}

// rewriteRef applies rw where AppendRecordManifests promises to.
func rewriteRef(v any, rw manifest.Rewriter) {
	top, ok := v.(map[string]any)
	if !ok {
		return
	}
	one := func(m map[string]any) {
		if s, ok := m["manifest_text"].(string); ok {
			m["manifest_text"] = string(rw.Rewrite([]byte(s)))
		}
	}
	one(top)
	if items, ok := top["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				one(m)
			}
		}
	}
}

// FuzzSanitizeArgs: the query/form cleaner never panics, never leaves a
// pair whose key is api_token or reader_tokens in any spelling (split on
// '&' and ';'), and keeps every other pair byte for byte, in order.
func FuzzSanitizeArgs(f *testing.F) {
	for _, s := range []string{
		"a=1&api_token=x", "a=1;api_token=x", "api%5Ftoken=x", "API_TOKEN=x&b=2",
		"+api_token=x", "api_token[]=x;reader_tokens[]=y", "reader_tokens=%5B%22t%22%5D",
		"%zz=1&api_token", "a=%3Bapi_token%3Dx", ";;&&=", "filters=[[\"uuid\",\"=\",\"x\"]]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, changed := sanitizeArgs(in)
		if !changed && !bytes.Equal(out, in) {
			t.Fatalf("unchanged but different: %q -> %q", in, out)
		}
		var kept [][]byte
		for _, seg := range bytes.FieldsFunc(in, func(r rune) bool { return r == '&' || r == ';' }) {
			k, _, _ := bytes.Cut(seg, []byte("="))
			if classifyKey(unescapeArg(k)) == keyPlain {
				kept = append(kept, seg)
			}
		}
		var got [][]byte
		for _, seg := range bytes.FieldsFunc(out, func(r rune) bool { return r == '&' || r == ';' }) {
			k, _, _ := bytes.Cut(seg, []byte("="))
			if classifyKey(unescapeArg(k)) != keyPlain {
				t.Fatalf("token key survived: %q -> %q", in, out)
			}
			got = append(got, seg)
		}
		if changed && !reflect.DeepEqual(kept, got) && !(len(kept) == 0 && len(got) == 0) {
			t.Fatalf("pairs changed: %q -> %q", in, out)
		}
	})
}

// FuzzSanitizeJSON: the JSON body cleaner never panics; on success the
// output is valid JSON, and when the input is an object the output has
// no top-level api_token or reader_tokens key and the same other keys.
func FuzzSanitizeJSON(f *testing.F) {
	for _, s := range []string{
		`{"api_token":"x","a":1}`, `{"api\u005ftoken":"x"}`, `{"API_TOKEN":"x","reader_tokens":["a","b"]}`,
		`{"reader_tokens":"[\"a\"]"}`, `[1,2]`, `{"a":1} {}`, `{"a":`, `"token"`, `{"a":{"api_token":"nested"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, _, err := sanitizeJSON(in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, in)
		}
		var inObj, outObj map[string]json.RawMessage
		if json.Unmarshal(in, &inObj) != nil {
			return
		}
		if err := json.Unmarshal(out, &outObj); err != nil {
			t.Fatalf("object became %q", out)
		}
		for k := range outObj {
			if classifyKey(k) != keyPlain {
				t.Fatalf("key %q survived: %q", k, out)
			}
		}
		for k := range inObj {
			if _, ok := outObj[k]; classifyKey(k) == keyPlain && !ok {
				t.Fatalf("key %q lost: %q -> %q", k, in, out)
			}
		}
	})
}

// FuzzParseRecord: the PDH answer parser never panics; what it accepts is
// valid JSON whose top-level manifest_text (if any) is what it returns.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"manifest_text":"` + m1[:len(m1)-1] + `\n","portable_data_hash":"` + pdh1 + `"}`,
		`{"properties":{"manifest_text":"x"},"manifest_text":"y"}`,
		`{"manifest_text":"a","manifest_text":"b"}`, `{"manifest\u005ftext":"a","manifest_text":"b"}`,
		`{"manifest_text":null}`, `{"manifest_text":1}`, `[]`, `{} {}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rec, err := parseRecord(in)
		if err != nil {
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		var top map[string]any
		d := json.NewDecoder(bytes.NewReader(in))
		d.UseNumber()
		if err := d.Decode(&top); err != nil {
			t.Fatalf("accepted a non-object %q", in)
		}
		s, ok := top["manifest_text"].(string)
		if ok != rec.hasManifest || (ok && s != string(rec.manifest)) {
			t.Fatalf("manifest %q/%v, decoder %q/%v", rec.manifest, rec.hasManifest, s, ok)
		}
	})
}
