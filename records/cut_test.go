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
	cutters := map[string]func([]byte, string) ([]byte, []byte, bool, bool, error){
		"copy": CutRecordManifest, "in place": CutRecordManifestInPlace,
	}
	for _, c := range cases {
		for how, cut := range cutters {
			t.Run(c.name+"/"+how, func(t *testing.T) {
				body := []byte(c.body)
				mt, rest, wrapped, found, err := cut(body, "collection")
				if c.err != nil {
					assert.ErrorIs(t, err, c.err)
					assert.Equal(t, c.body, string(body), "a refused body is left as it was")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, c.found, found)
				if !found {
					assert.Equal(t, c.body, string(body), "a body without one manifest is left as it was")
					return
				}
				assert.Equal(t, c.want, string(mt))
				assert.Equal(t, c.rest, string(rest))
				assert.Equal(t, c.wrapped, wrapped)
				if how == "copy" {
					assert.Equal(t, c.body, string(body), "the copying cut leaves the body as it was")
				}
			})
		}
	}
}

// TestCutRecordManifestInPlaceShares: the in-place cut's manifest is a
// slice of the body (nothing manifest-sized is allocated), the copying
// cut's is not.
func TestCutRecordManifestInPlaceShares(t *testing.T) {
	body := []byte(`{"collection":{"manifest_text":". d41d8cd98f00b204e9800998ecf8427e+0 0:0:a\tb\n"}}`)
	mt, _, _, found, err := CutRecordManifestInPlace(body, "collection")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, ". d41d8cd98f00b204e9800998ecf8427e+0 0:0:a\tb\n", string(mt))
	assert.Same(t, &body[len(`{"collection":{"manifest_text":"`)], &mt[0])
	body2 := []byte(`{"manifest_text":"x"}`)
	mt2, _, _, _, err := CutRecordManifest(body2, "collection")
	require.NoError(t, err)
	assert.NotSame(t, &body2[len(`{"manifest_text":"`)], &mt2[0])
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
		orig := append([]byte(nil), body...)
		mt2, rest2, wrapped2, found2, err2 := CutRecordManifestInPlace(body, "collection")
		require.Equal(t, err, err2)
		require.Equal(t, found, found2)
		if err != nil || !found {
			require.Equal(t, string(orig), string(body), "the in-place cut leaves a body it refuses as it was")
			return
		}
		require.Equal(t, mt, mt2, "both cuts read the same manifest")
		require.Equal(t, rest, rest2)
		require.Equal(t, wrapped, wrapped2)
		body = orig
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
