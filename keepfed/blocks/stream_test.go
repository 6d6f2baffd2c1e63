package blocks

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBlockStreamHoldsBackTail(t *testing.T) {
	data := make([]byte, 3*streamBufSize+123)
	for i := range data {
		data[i] = byte(i * 13)
	}
	hash := md5hex(data)
	flipped := append([]byte(nil), data...)
	flipped[0] ^= 1
	lastFlipped := append([]byte(nil), data...)
	lastFlipped[len(data)-1] ^= 1
	cases := []struct {
		name string
		src  []byte
		err  error
	}{
		{"intact", data, nil},
		{"first byte flipped", flipped, ErrChecksum},
		{"last byte flipped", lastFlipped, ErrChecksum},
		{"short", data[:len(data)-1], ErrShortBody},
		{"much shorter", data[:streamBufSize], ErrShortBody},
		{"long", append(append([]byte(nil), data...), 'x'), ErrLongBody},
	}
	for _, c := range cases {
		for _, viaRead := range []bool{false, true} {
			name := c.name + map[bool]string{false: "/WriteTo", true: "/Read"}[viaRead]
			t.Run(name, func(t *testing.T) {
				var released []error
				bs, err := newBlockStream(iotest.HalfReader(bytes.NewReader(c.src)), hash, int64(len(data)), func(err error) { released = append(released, err) })
				require.NoError(t, err)
				var out bytes.Buffer
				if viaRead {
					_, err = io.Copy(&out, struct{ io.Reader }{bs})
				} else {
					_, err = bs.WriteTo(&out)
				}
				require.Len(t, released, 1, "released exactly once")
				if c.err == nil {
					require.NoError(t, err)
					assert.Equal(t, data, out.Bytes())
					return
				}
				assert.True(t, errors.Is(err, c.err), "%v", err)
				assert.LessOrEqual(t, out.Len(), len(data)-streamBufSize, "the tail never leaves")
				assert.True(t, errors.Is(released[0], c.err))
			})
		}
	}
}

func TestBlockStreamLocalCopy(t *testing.T) {
	v, err := NewVolume(t.TempDir())
	require.NoError(t, err)
	data := []byte("some block data")
	hash := md5hex(data)
	for _, good := range []bool{true, false} {
		src := data
		if !good {
			src = []byte("some block dat!")
		}
		w, err := v.NewWriter(hash)
		require.NoError(t, err)
		bs, err := newBlockStream(bytes.NewReader(src), hash, int64(len(data)), nil)
		require.NoError(t, err)
		bs.copy = w
		_, err = bs.WriteTo(io.Discard)
		stored, rerr := os.ReadFile(v.BlockPath(hash))
		if good {
			require.NoError(t, err)
			require.NoError(t, rerr)
			assert.Equal(t, data, stored)
			require.NoError(t, os.Remove(v.BlockPath(hash)))
		} else {
			assert.Error(t, err)
			assert.True(t, os.IsNotExist(rerr))
		}
		entries, _ := os.ReadDir(v.Root() + "/" + hash[:3])
		assert.Empty(t, entries, "no temporary files left")
	}
}

func TestBlockStreamCloseEarly(t *testing.T) {
	data := []byte("abc")
	var got error
	bs, err := newBlockStream(bytes.NewReader(data), md5hex(data), 3, func(err error) { got = err })
	require.NoError(t, err)
	require.NoError(t, bs.Close())
	assert.ErrorIs(t, got, errClientGone)
}

func TestVolumeOpenMissing(t *testing.T) {
	v, err := NewVolume(t.TempDir())
	require.NoError(t, err)
	_, _, err = v.Open(md5hex([]byte("nope")))
	assert.ErrorIs(t, err, ErrBlockNotFound)
	w, err := v.NewWriter(md5hex([]byte("x")))
	require.NoError(t, err)
	w.Write([]byte("x"))
	w.Abort()
	w.Abort()
	assert.Error(t, w.Commit())
	_, _, err = v.Open(md5hex([]byte("x")))
	assert.ErrorIs(t, err, ErrBlockNotFound)
}

func BenchmarkBlockStream(b *testing.B) {
	data := make([]byte, 8<<20)
	hash := md5hex(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		bs, _ := newBlockStream(bytes.NewReader(data), hash, int64(len(data)), nil)
		if _, err := bs.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
