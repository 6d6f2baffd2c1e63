package records

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamed is what writeRewritten writes for body, in pieces of piece
// bytes.
func streamed(t testing.TB, body []byte, rw manifest.Rewriter, piece int) ([]byte, error) {
	if !json.Valid(body) {
		return nil, ErrMalformedJSON
	}
	var spans []manifestSpan
	if err := scanRecordManifests(body, "items", "", func(s, e int, esc bool) { spans = append(spans, manifestSpan{s, e, esc}) }); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	require.NoError(t, writeRewritten(&out, body, spans, rw, piece))
	return out.Bytes(), nil
}

// TestWriteRewrittenMatchesWhole: the streamed rewrite of a remote's
// answer, cut into pieces of any size, is byte for byte the rewrite
// built whole (AppendRecordManifests), for every rewriter the proxy uses.
func TestWriteRewrittenMatchesWhole(t *testing.T) {
	ring := signing.NewKeyRing(time.Hour, []byte("a-local-signing-key-for-the-stream-test"))
	rewriters := map[string]manifest.Rewriter{
		"to remote":        manifest.ToRemote(idB),
		"to remote signed": manifest.ToRemoteSigned(idB, ring, "v2/zzzzz-gj3su-000000000000001/secret", time.Now().Add(time.Hour).Unix()),
	}
	var many strings.Builder
	for i := 0; i < 200; i++ {
		many.WriteString(locB + " ")
	}
	bodies := map[string]string{
		"record":           `{"uuid":"x","manifest_text":". ` + locB + ` ` + locB + ` 0:3:foo 3:3:b\\040r\n./s ` + locB + ` 0:3:\u00e9\n","name":"n"}`,
		"list":             `{"items":[{"manifest_text":". ` + locB + ` 0:3:a\n"},{"manifest_text":". ` + locB + ` 0:3:b\n","properties":{"manifest_text":". ` + locB + ` 0:3:decoy\n"}}],"items_available":2}`,
		"long line":        `{"manifest_text":". ` + many.String() + `0:600:f\n"}`,
		"escapes":          `{"manifest_text":"\u002e ` + locB + ` 0:3:a\"b\\\\c\/d\t\n"}`,
		"no manifest":      `{"manifest_text":null,"x":"manifest_text"}`,
		"empty manifest":   `{"manifest_text":""}`,
		"surrogate pair":   `{"manifest_text":". ` + locB + ` 0:3:\ud83d\ude00\n"}`,
		"spaces in escape": `{"manifest_text":". ` + locB + ` 0:3:a\u0020b\n"}`,
	}
	for rname, rw := range rewriters {
		for bname, body := range bodies {
			for _, piece := range []int{1, 7, 64, 1 << 20} {
				want, _, werr := AppendRecordManifests(nil, []byte(body), rw)
				got, gerr := streamed(t, []byte(body), rw, piece)
				require.Equal(t, werr == nil, gerr == nil, "%s/%s: %v vs %v", rname, bname, werr, gerr)
				assert.Equal(t, string(want), string(got), "%s/%s in pieces of %d", rname, bname, piece)
			}
		}
	}
}

// FuzzWriteRewritten: for any body, the streamed rewrite in small pieces
// is the whole one.
func FuzzWriteRewritten(f *testing.F) {
	f.Add([]byte(`{"manifest_text":". `+locB+` `+locB+` 0:3:foo\n"}`), 3)
	f.Add([]byte(`{"items":[{"manifest_text":". `+locB+` 0:3:a\u0041\n"}]}`), 1)
	f.Add([]byte(`{"manifest_text":"a b\\\" c\u00e9 d"}`), 2)
	rw := manifest.ToRemote(idB)
	f.Fuzz(func(t *testing.T, body []byte, piece int) {
		if piece < 1 || piece > 1<<16 {
			return
		}
		want, _, werr := AppendRecordManifests(nil, body, rw)
		got, gerr := streamed(t, body, rw, piece)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: %v vs %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(want, got) {
			t.Fatalf("piece %d:\nwhole    %q\nstreamed %q", piece, want, got)
		}
	})
}
