package webdav

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/records"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// env is a WebDAV handler over a real bbolt store and directory volume,
// served by fasthttp on a loopback port.
type env struct {
	url   string
	vol   *blocks.Volume
	st    *store.Store
	auth  store.Authorization
	token string
	coll  string
}

func newEnv(t *testing.T, blockSize int) *env {
	t.Helper()
	dir := t.TempDir()
	cfg, _, err := config.ParseConfig([]byte(`
Clusters:
  zzzzz:
    SystemRootToken: root-token-0123456789abcdefghijklmnopqrstuvwxyz
    Collections:
      BlobSigningKey: key-0123456789abcdefghijklmnopqrstuvwxyz0123456789
    KeepFed:
      DataDir: `+dir+`
`), "zzzzz")
	require.NoError(t, err)
	st, err := identity.OpenEmbeddedStore(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	id, err := identity.New(cfg, identity.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	vol, err := blocks.NewVolume(dir)
	require.NoError(t, err)
	h := New(Options{Identity: id, Backend: blocks.EmbeddedBackend{V: vol}, Config: cfg, BlockSize: blockSize})
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if tok := records.ExtractToken(&ctx.Request); tok != "" {
			request.SetToken(ctx, tok)
		}
		if err := h.Serve(ctx); err != nil {
			request.RenderError(ctx, err)
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { srv.Shutdown() })
	it, err := identity.CreateUserToken(st, identity.IssueTokenRequest{Email: "u@example.com"}, time.Now())
	require.NoError(t, err)
	auth, err := id.Authenticate(it.Token, "")
	require.NoError(t, err)
	rec, err := st.Create(store.Collections, store.Record{"name": "c"}, auth)
	require.NoError(t, err)
	return &env{url: "http://" + ln.Addr().String(), vol: vol, st: st, auth: auth, token: it.Token, coll: rec.UUID()}
}

func (e *env) do(t *testing.T, method, path string, body []byte, hdr ...string) (int, http.Header, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, rerr
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestPutSplitsIntoBlocks: a body larger than the block size is stored as
// several blocks, named in order in the manifest, and read back whole and
// by ranges that cross the block boundary.
func TestPutSplitsIntoBlocks(t *testing.T) {
	e := newEnv(t, 1000)
	data := make([]byte, 2500)
	for i := range data {
		data[i] = byte(i * 7)
	}
	st, _, body, _ := e.do(t, "PUT", "/c="+e.coll+"/dir-less.bin", data)
	require.Equal(t, 201, st, string(body))
	rec, err := e.st.Get(store.Collections, e.coll, e.auth)
	require.NoError(t, err)
	want := ". " + md5hex(data[:1000]) + "+1000 " + md5hex(data[1000:2000]) + "+1000 " + md5hex(data[2000:]) + "+500 0:2500:dir-less.bin\n"
	assert.Equal(t, want, rec.StringAttr("manifest_text"))

	for _, tt := range []struct {
		rng        string
		status     int
		start, end int
	}{
		{"", 200, 0, 2500},
		{"bytes=990-1010", 206, 990, 1011},
		{"bytes=1000-1999", 206, 1000, 2000},
		{"bytes=-600", 206, 1900, 2500},
		{"bytes=2400-", 206, 2400, 2500},
		{"bytes=0-99999", 206, 0, 2500},
		{"bytes=0-1,5-6", 200, 0, 2500}, // several ranges: the whole file
	} {
		t.Run(tt.rng, func(t *testing.T) {
			var hdr []string
			if tt.rng != "" {
				hdr = []string{"Range", tt.rng}
			}
			st, h, body, err := e.do(t, "GET", "/c="+e.coll+"/dir-less.bin", nil, hdr...)
			require.NoError(t, err)
			require.Equal(t, tt.status, st)
			assert.Equal(t, data[tt.start:tt.end], body)
			assert.Equal(t, "application/octet-stream", h.Get("Content-Type"))
		})
	}
}

// TestCorruptBlockNeverCompletes: a stored block whose bytes no longer
// match its md5 ends the body early (the client sees an error, never a
// complete 200 body); a missing first block is a 502 before any byte.
func TestCorruptBlockNeverCompletes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, e *env, hashes []string)
		status int
	}{
		{"corrupt second block", func(t *testing.T, e *env, h []string) {
			require.NoError(t, os.WriteFile(e.vol.BlockPath(h[1]), bytes.Repeat([]byte("X"), 1000), 0o600))
		}, 200},
		{"corrupt last byte of last block", func(t *testing.T, e *env, h []string) {
			p := e.vol.BlockPath(h[2])
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[len(b)-1] ^= 1
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, 200},
		{"missing first block", func(t *testing.T, e *env, h []string) {
			require.NoError(t, os.Remove(e.vol.BlockPath(h[0])))
		}, 502},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1000)
			data := bytes.Repeat([]byte("0123456789"), 250)
			st, _, _, _ := e.do(t, "PUT", "/c="+e.coll+"/f", data)
			require.Equal(t, 201, st)
			tt.damage(t, e, []string{md5hex(data[:1000]), md5hex(data[1000:2000]), md5hex(data[2000:])})
			st, _, body, err := e.do(t, "GET", "/c="+e.coll+"/f", nil)
			if tt.status != 200 {
				require.NoError(t, err)
				require.Equal(t, tt.status, st)
				return
			}
			// the connection ends before the body is complete:
			// before the status line when it was still buffered
			require.Error(t, err, "the body must not arrive complete")
			if st != 0 {
				assert.Equal(t, 200, st)
				assert.Less(t, len(body), len(data))
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	for _, tt := range []struct {
		h          string
		size       int64
		start, end int64
		partial    bool
		err        bool
	}{
		{"", 10, 0, 10, false, false},
		{"bytes=0-0", 10, 0, 1, true, false},
		{"bytes=3-", 10, 3, 10, true, false},
		{"bytes=-3", 10, 7, 10, true, false},
		{"bytes=-30", 10, 0, 10, true, false},
		{"bytes=5-2", 10, 0, 10, false, false},
		{"bytes=10-", 10, 0, 0, false, true},
		{"bytes=-0", 10, 0, 0, false, true},
		{"bytes=0-", 0, 0, 0, false, true},
		{"items=0-1", 10, 0, 10, false, false},
		{"bytes=a-b", 10, 0, 10, false, false},
		{"bytes=+1-2", 10, 0, 10, false, false},
		{"bytes=1-2,4-5", 10, 0, 10, false, false},
	} {
		s, e, p, err := parseRange(tt.h, tt.size)
		if tt.err {
			assert.Error(t, err, tt.h)
			continue
		}
		require.NoError(t, err, tt.h)
		assert.Equal(t, []any{tt.start, tt.end, tt.partial}, []any{s, e, p}, tt.h)
	}
}

func TestReplaceFile(t *testing.T) {
	const a = "acbd18db4cc2f85cedef654fccc4a4d8+3"
	const b = "37b51d194a7513e45b56f6524f2d51f2+3"
	for _, tt := range []struct {
		name, mt, path string
		want           string
		status         int
	}{
		{"into empty", "", "x", ". " + b + " 0:3:x\n", 0},
		{"next to another", ". " + a + " 0:3:y\n", "x", ". " + b + " " + a + " 0:3:x 3:3:y\n", 0},
		{"replace", ". " + a + " 0:3:x\n", "x", ". " + b + " 0:3:x\n", 0},
		{"replace a file in a subdirectory", "./d " + a + " 0:3:x\n", "d/x", "./d " + b + " 0:3:x\n", 0},
		{"replace a file named with a slash", ". " + a + " 0:3:d/x\n", "d/x", "./d " + b + " 0:3:x\n", 0},
		{"into an empty directory", "./d d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n", "d/x", "./d " + b + " 0:3:x\n", 0},
		{"last file of a subdirectory keeps it", "./d " + a + " 0:3:x\n", "d/x", "./d " + b + " 0:3:x\n", 0},
		{"a name with a space", "", "a b", ". " + b + " 0:3:a\\040b\n", 0},
		{"missing parent", "", "d/x", "", 409},
		{"parent is a file", ". " + a + " 0:3:d\n", "d/x", "", 409},
		{"onto a directory", "./d " + a + " 0:3:x\n", "d", "", 405},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceFile(tt.mt, tt.path, []string{b}, 3)
			if tt.status != 0 {
				require.Error(t, err)
				assert.Equal(t, tt.status, request.StatusOf(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFindFileRemoteBlock(t *testing.T) {
	mt := ". acbd18db4cc2f85cedef654fccc4a4d8+3+Rzzzzy-abc 0:3:x\n"
	_, found, err := findFile(mt, "x")
	assert.True(t, found)
	assert.Equal(t, 501, request.StatusOf(err))
}

// TestSharedBlockVerifiedBeforeLastByte: a file that is the start of a
// block shared with another file is answered only after the whole block
// has matched its md5, so damage anywhere in the block (here after the
// file's bytes) keeps the file from arriving complete; large blocks,
// whose first bytes are sent before the end is read, fail the same way.
func TestSharedBlockVerifiedBeforeLastByte(t *testing.T) {
	for _, size := range []int{1000, 3 << 20} {
		e := newEnv(t, 0)
		data := bytes.Repeat([]byte("abcdefghij"), size/10)
		hash, err := blocks.StoreBlock(blocks.EmbeddedBackend{V: e.vol}, data, e.token)
		require.NoError(t, err)
		loc := hash + "+" + strconv.Itoa(len(data))
		half := len(data) / 2
		mt := ". " + loc + " 0:" + strconv.Itoa(half) + ":a " + strconv.Itoa(half) + ":" + strconv.Itoa(len(data)-half) + ":b\n"
		_, err = e.st.Update(store.Collections, e.coll, store.Record{"manifest_text": mt}, e.auth)
		require.NoError(t, err)
		st, _, body, err := e.do(t, "GET", "/c="+e.coll+"/a", nil)
		require.NoError(t, err)
		require.Equal(t, 200, st)
		require.Equal(t, data[:half], body)

		p := e.vol.BlockPath(hash)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[len(b)-1] ^= 1
		require.NoError(t, os.WriteFile(p, b, 0o600))
		st, _, body, err = e.do(t, "GET", "/c="+e.coll+"/a", nil)
		require.Error(t, err, "size %d: file a must not arrive complete from a damaged block", size)
		if st != 0 {
			assert.Less(t, len(body), half)
		}
	}
}
