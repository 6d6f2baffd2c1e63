package records

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCutRecordManifest(t *testing.T) {
	cases := []struct {
		name, body, want, rest string
		wrapped, found         bool
		err                    error
	}{
		{"top level", `{"name":"a","manifest_text":". x 0:0:f\n"}`, ". x 0:0:f\n", `{"name":"a","manifest_text":""}`, false, true, nil},
		{"escaped", `{"manifest_text":"a\"b\\c\u00e9"}`, "a\"b\\c\u00e9", `{"manifest_text":""}`, false, true, nil},
		{"wrapped", `{"collection":{"manifest_text":"m","name":"n"},"ensure_unique_name":true}`, "m", `{"collection":{"manifest_text":"","name":"n"},"ensure_unique_name":true}`, true, true, nil},
		{"nested in properties is data", `{"properties":{"manifest_text":"decoy"}}`, "", "", false, false, nil},
		{"wrapped and top level: decode as usual", `{"manifest_text":"a","collection":{"manifest_text":"b"}}`, "", "", false, false, nil},
		{"none", `{"name":"a"}`, "", "", false, false, nil},
		{"duplicate", `{"manifest_text":"a","manifest_text":"b"}`, "", "", false, false, ErrDuplicateKey},
		{"not JSON", `{"manifest_text":`, "", "", false, false, ErrMalformedJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mt, rest, wrapped, found, err := CutRecordManifest([]byte(c.body), "collection")
			if c.err != nil {
				assert.ErrorIs(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.found, found)
			if !found {
				return
			}
			assert.Equal(t, c.want, string(mt))
			assert.Equal(t, c.rest, string(rest))
			assert.Equal(t, c.wrapped, wrapped)
		})
	}
}

// FuzzCutRecordManifest: putting the cut manifest back where it was cut
// gives what decoding the whole body gives.
func FuzzCutRecordManifest(f *testing.F) {
	f.Add([]byte(`{"name":"a","manifest_text":". x 0:0:f\n"}`))
	f.Add([]byte(`{"collection":{"manifest_text":"m\u0041","properties":{"manifest_text":"d"}}}`))
	f.Add([]byte(`{"items":[{"manifest_text":"x"}]}`))
	f.Add([]byte(`[1,{"manifest_text":"x"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		mt, rest, wrapped, found, err := CutRecordManifest(body, "collection")
		if err != nil || !found {
			return
		}
		var whole, cut map[string]any
		if json.Unmarshal(body, &whole) != nil {
			t.Fatalf("found a manifest in a body that is not an object: %q", body)
		}
		require.NoError(t, json.Unmarshal(rest, &cut), "rest %q", rest)
		target := cut
		if wrapped {
			target = cut["collection"].(map[string]any)
		}
		require.Equal(t, "", target["manifest_text"])
		target["manifest_text"] = string(mt)
		assert.Equal(t, whole, cut)
	})
}
