package jsonesc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInPlace(t *testing.T) {
	for _, s := range []string{"", "plain", ". x 0:1:a\\040b\n", `q"uote`, "tab\tcr\rnl\n", "ctl\x01\x1f", "é ü \u2028", `\\`} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		b := make([]byte, 0, 2+len(s)+5*Count([]byte(s))+1)
		b = append(b, '"')
		b = append(b, s...)
		b = InPlace(b, 1)
		b = append(b, '"')
		var back string
		require.NoError(t, json.Unmarshal(b, &back), "%q -> %s", s, b)
		assert.Equal(t, s, back)
		if s != "é ü \u2028" { // encoding/json also escapes U+2028
			assert.Equal(t, string(want), string(b))
		}
	}
}

func TestAppend(t *testing.T) {
	got := Append([]byte(`"`), []byte("a\n\"b"))
	assert.Equal(t, `"a\n\"b`, string(got))
}

func TestLen(t *testing.T) {
	cases := []string{"", "plain", "a\nb\tc\rd\"e\\f", "\x00\x01\x1f", "é\u2028"}
	for _, c := range cases {
		got := Append(nil, []byte(c))
		assert.Equal(t, len(got), Len([]byte(c)), "%q", c)
		dst := make([]byte, 0, Len([]byte(c)))
		assert.Len(t, Append(dst, []byte(c)), cap(dst), "Append fits a buffer of Len: %q", c)
	}
}
