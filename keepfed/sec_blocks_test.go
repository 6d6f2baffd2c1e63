package keepfed

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Block path integrity (docs/RELIABILITY.md, "Block path integrity").

// rwValidator knows tokens that may read remote blocks and tokens that
// may also write (blocks.ReadValidator).
type rwValidator struct{ readers, writers []string }

func (v rwValidator) ValidateToken(_ context.Context, tok string) (bool, error) {
	for _, w := range v.writers {
		if tok == w {
			return true, nil
		}
	}
	return false, nil
}

func (v rwValidator) ValidateReadToken(ctx context.Context, tok string) (bool, error) {
	for _, r := range v.readers {
		if tok == r {
			return true, nil
		}
	}
	return v.ValidateToken(ctx, tok)
}

const (
	readerToken  = "v2/aaaaa-gj3su-000000000000011/readersecretreadersecretreader"
	writerToken  = "v2/aaaaa-gj3su-000000000000012/writersecretwritersecretwriter"
	unknownToken = "v2/aaaaa-gj3su-000000000000013/unknownsecretunknownsecretunkno"
)

// secHome starts home cluster aaaaa whose remote ccccc is a fake cluster
// with one fake keep service in mode; mutate (may be nil) changes the
// home's config.
func secHome(t *testing.T, data []byte, mode string, opts Options, mutate func(*config.ClusterConfig)) (*testCluster, *fakeKeep) {
	t.Helper()
	fk := newFakeKeep(t, "ccccc-bi6l4-000000000000001", data, mode)
	fc := newFakeCluster(t, fk.service())
	cfg := testConfig(t, "aaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
	if mutate != nil {
		mutate(cfg)
	}
	return startCluster(t, cfg, opts), fk
}

func fakeRemoteLoc(t *testing.T, data []byte, token string) string {
	return remoteLocator(t, signing.NewKeyRing(time.Hour, []byte("fake")), "ccccc", data, token)
}

// Item 8: "X-Keep-Signature: local" stores a local copy only for a token
// that may PUT; anyone else gets the block without a copy or an
// X-Keep-Locator, and a token this cluster does not know gets nothing.
func TestLocalCopyNeedsWritePermission(t *testing.T) {
	data := []byte(strings.Repeat("copy me if you may ", 5000))
	v := rwValidator{readers: []string{readerToken}, writers: []string{writerToken}}
	home, fk := secHome(t, data, modeOK, Options{TokenValidator: v}, nil)
	path := home.srv.Volume().BlockPath(md5hex(data))
	cases := []struct {
		name, method, token string
		status              int
		copied              bool
	}{
		{"reader GET", http.MethodGet, readerToken, 200, false},
		{"reader HEAD", http.MethodHead, readerToken, 200, false},
		{"unknown GET", http.MethodGet, unknownToken, 403, false},
		{"unknown HEAD", http.MethodHead, unknownToken, 403, false},
		{"writer GET", http.MethodGet, writerToken, 200, true},
		{"writer HEAD", http.MethodHead, writerToken, 200, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(path)
			hits := fk.hits.Load()
			r := do(t, c.method, home.url+"/"+fakeRemoteLoc(t, data, c.token), c.token, nil, "X-Keep-Signature", "local")
			require.Equal(t, c.status, r.status, string(r.body))
			_, err := os.Stat(path)
			if !c.copied {
				assert.Empty(t, r.header.Get("X-Keep-Locator"))
				assert.True(t, os.IsNotExist(err), "no local copy")
				if c.status == 200 && c.method == http.MethodGet {
					assert.Equal(t, data, r.body)
				}
				if c.status == 403 {
					assert.Equal(t, hits, fk.hits.Load(), "a token unknown here makes no remote request")
				}
				return
			}
			require.NoError(t, err, "local copy stored")
			loc := r.header.Get("X-Keep-Locator")
			require.NoError(t, home.srv.KeyRing().Verify(loc, c.token, time.Now().Unix()))
			if c.method == http.MethodGet {
				assert.Equal(t, data, r.body)
			}
		})
	}
}

// Item 8: the signed X-Keep-Locator is sent only once the copy is
// committed; a copy that fails is answered with the storage's status.
func TestFailedLocalCopySendsNoLocator(t *testing.T) {
	data := []byte(strings.Repeat("a block whose copy fails ", 4000))
	home, _ := secHome(t, data, modeOK, Options{TokenValidator: fedUsers}, nil)
	// a different block already sits under the hash: the copy collides
	path := home.srv.Volume().BlockPath(md5hex(data))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
	require.NoError(t, os.WriteFile(path, []byte("not the block"), 0o640))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			r := do(t, method, home.url+"/"+fakeRemoteLoc(t, data, userToken), userToken, nil, "X-Keep-Signature", "local")
			assert.Equal(t, 500, r.status)
			if method == http.MethodGet {
				assertJSONError(t, r, 500, "hash collision")
			}
			assert.Empty(t, r.header.Get("X-Keep-Locator"))
			stored, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "not the block", string(stored), "the stored block is kept")
			assertNoTemporary(t, home)
		})
	}
}

// assertNoTemporary checks that no write left a temporary file.
func assertNoTemporary(t *testing.T, tc *testCluster) {
	t.Helper()
	n := 0
	filepath.WalkDir(tc.srv.Volume().Root(), func(p string, d os.DirEntry, err error) error { //nolint:errcheck // test walk
		if err == nil && strings.HasPrefix(d.Name(), "tmp-") {
			n++
		}
		return nil
	})
	assert.Zero(t, n, "temporary files left in the volume")
}

// Item 12: a PUT never replaces a stored block with different bytes under
// the same hash (500 "hash collision", the original kept); identical
// bytes are a success that touches the stored block.
func TestPutHashCollision(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	data := []byte("the real content")
	hash := md5hex(data)
	path := tc.srv.Volume().BlockPath(hash)
	old := time.Now().Add(-48 * time.Hour)
	cases := []struct {
		name   string
		stored []byte // what sits under the hash before the PUT
		status int
		after  []byte
	}{
		{"different bytes", []byte("planted by a corrupt disk"), 500, []byte("planted by a corrupt disk")},
		{"different bytes same length", []byte("THE REAL CONTENT"), 500, []byte("THE REAL CONTENT")},
		{"truncated", data[:4], 500, data[:4]},
		{"same bytes", data, 200, data},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
			require.NoError(t, os.WriteFile(path, c.stored, 0o640))
			require.NoError(t, os.Chtimes(path, old, old))
			r := do(t, http.MethodPut, tc.url+"/"+hash, testRootToken, data)
			if c.status == 200 {
				require.Equal(t, 200, r.status, string(r.body))
				st, err := os.Stat(path)
				require.NoError(t, err)
				assert.True(t, st.ModTime().After(old.Add(time.Hour)), "the stored block is touched")
			} else {
				assertJSONError(t, r, c.status, "hash collision")
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, c.after, got)
			assertNoTemporary(t, tc)
		})
	}
}

// mountTiny mounts a tmpfs of size bytes on a new directory, or skips
// the test where mounting is not permitted.
func mountTiny(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): the full-disk test needs root", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) }) //nolint:errcheck // test cleanup
	return dir
}

// Item 13: a full volume answers 507 with nothing partial left behind;
// a client whose body fails gets 400.
func TestPutFullDisk(t *testing.T) {
	dir := mountTiny(t, "1m")
	cfg := testConfig(t, "zzzzz")
	cfg.KeepFed.DataDir = dir
	tc := startCluster(t, cfg, Options{TokenValidator: fedUsers})
	small := []byte("fits")
	big := bytes.Repeat([]byte("does not fit "), 200000) // 2.6 MB
	cases := []struct {
		name   string
		data   []byte
		status int
		text   string
	}{
		{"larger than the disk", big, 507, "insufficient storage"},
		{"fits", small, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, http.MethodPut, tc.url+"/"+md5hex(c.data), testRootToken, c.data)
			if c.status != 200 {
				assertJSONError(t, r, c.status, c.text)
				_, err := os.Stat(tc.srv.Volume().BlockPath(md5hex(c.data)))
				assert.True(t, os.IsNotExist(err), "nothing stored")
			} else {
				assert.Equal(t, 200, r.status, string(r.body))
			}
			assertNoTemporary(t, tc)
		})
	}
	// a remote block copied into the full volume: 507, no X-Keep-Locator
	t.Run("local copy", func(t *testing.T) {
		fk := newFakeKeep(t, "ccccc-bi6l4-000000000000001", big, modeOK)
		fc := newFakeCluster(t, fk.service())
		cfg := testConfig(t, "aaaaa")
		cfg.KeepFed.DataDir = dir
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
		tc.stop()
		home := startCluster(t, cfg, Options{TokenValidator: fedUsers})
		r := do(t, http.MethodGet, home.url+"/"+fakeRemoteLoc(t, big, userToken), userToken, nil, "X-Keep-Signature", "local")
		assertJSONError(t, r, 507, "insufficient storage")
		assert.Empty(t, r.header.Get("X-Keep-Locator"))
		assertNoTemporary(t, home)
	})
}

// Item 16: a +R read needs a token this cluster validates, so keepfed is
// no open relay to remote clusters; such a read contacts nothing.
func TestRemoteReadNeedsValidatedToken(t *testing.T) {
	data := []byte("relay me")
	v := rwValidator{readers: []string{readerToken}}
	home, fk := secHome(t, data, modeOK, Options{TokenValidator: v}, nil)
	cases := []struct {
		name, method, token string
		status              int
	}{
		{"unknown GET", http.MethodGet, unknownToken, 403},
		{"unknown HEAD", http.MethodHead, unknownToken, 403},
		{"unknown v1 GET", http.MethodGet, strings.Repeat("u", 50), 403},
		{"reader GET", http.MethodGet, readerToken, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hits := fk.hits.Load()
			tok := c.token
			if !strings.HasPrefix(tok, "v2/") {
				tok = readerToken // the locator's signature does not matter here
			}
			r := do(t, c.method, home.url+"/"+fakeRemoteLoc(t, data, tok), c.token, nil)
			require.Equal(t, c.status, r.status, string(r.body))
			if c.status != 200 {
				assert.Equal(t, hits, fk.hits.Load(), "nothing contacted")
				if c.method == http.MethodGet {
					assertJSONError(t, r, c.status, "not valid on this cluster")
				}
				return
			}
			if c.method == http.MethodGet {
				assert.Equal(t, data, r.body)
			}
		})
	}
}

// Item 16: a remote that drips its block body slower than
// KeepFed.RemoteMinRate is cut off quickly and frees its request slot,
// though it sends often enough for the idle timeout.
func TestDrippingRemoteIsCut(t *testing.T) {
	data := bytes.Repeat([]byte("drip"), 16<<10) // 64 KiB: ~22 minutes at a byte per 20ms
	home, fk := secHome(t, data, modeDrip, Options{TokenValidator: fedUsers}, func(cfg *config.ClusterConfig) {
		cfg.KeepFed.RemoteMinRate = 4 << 10
		cfg.KeepFed.RemoteMinRateWindow = config.Duration(300 * time.Millisecond)
		cfg.KeepFed.MaxRequestsPerRemote = 1
	})
	loc := fakeRemoteLoc(t, data, userToken)
	cases := []struct {
		name   string
		hdr    []string
		status int // 200 with a cut body, or an error before the headers
	}{
		{"streamed", nil, 200},
		{"local copy", []string{"X-Keep-Signature", "local"}, 502},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil, c.hdr...)
			require.Equal(t, c.status, r.status)
			if c.status == 200 {
				assert.Error(t, r.readErr, "the body is cut")
				assert.Less(t, len(r.body), len(data))
			} else {
				assertJSONError(t, r, c.status, "ccccc")
				assert.Contains(t, string(r.body), "too slow")
			}
			assert.Less(t, time.Since(start), 10*time.Second, "cut long before the drip ends")
		})
	}
	// the slot is free again: the next request is served, not refused 503
	fk.mode.Store(modeOK)
	require.Eventually(t, func() bool {
		r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil)
		return r.status == 200 && bytes.Equal(r.body, data)
	}, 5*time.Second, 50*time.Millisecond)
}

// Item 17: keepfed never asks for an encoded block and refuses one sent
// anyway (502 naming the cluster), rather than decode or pass it on.
func TestCompressedBlockRefused(t *testing.T) {
	data := bytes.Repeat([]byte("compress me "), 10000)
	home, fk := secHome(t, data, modeGzip, Options{TokenValidator: fedUsers}, nil)
	loc := fakeRemoteLoc(t, data, userToken)
	for _, c := range []struct {
		name, method string
		hdr          []string
	}{
		{"GET", http.MethodGet, nil},
		{"HEAD", http.MethodHead, nil},
		{"GET local copy", http.MethodGet, []string{"X-Keep-Signature", "local"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, home.url+"/"+loc, userToken, nil, c.hdr...)
			assert.Equal(t, 502, r.status)
			if c.method == http.MethodGet {
				assertJSONError(t, r, 502, "ccccc")
				assert.Contains(t, string(r.body), "Content-Encoding")
			}
			assert.Empty(t, fk.accEnc.Load(), "no Accept-Encoding sent")
			_, err := os.Stat(home.srv.Volume().BlockPath(md5hex(data)))
			assert.True(t, os.IsNotExist(err), "nothing stored")
		})
	}
}

// Item 21: a remote's error body is never echoed to the client (only a
// well-formed Arvados JSON error's first message, cleaned and short).
func TestRemoteErrorBodyNotEchoed(t *testing.T) {
	data := []byte("leaky")
	home, _ := secHome(t, data, modeLeak, Options{TokenValidator: fedUsers}, nil)
	loc := fakeRemoteLoc(t, data, userToken)
	for _, hdr := range [][]string{nil, {"X-Keep-Signature", "local"}} {
		r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil, hdr...)
		assertJSONError(t, r, 502, "ccccc")
		assert.Contains(t, string(r.body), "503")
		assert.NotContains(t, string(r.body), leakSecret)
		assert.NotContains(t, home.logs.String(), leakSecret)
	}
}

// Item 13: a client whose body ends early is answered 400 (its fault,
// not the storage's), and nothing partial is left behind.
func TestPutClientBodyFails(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	data := bytes.Repeat([]byte("x"), 100000)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(tc.url, "http://"), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // test
	_, err = io.WriteString(conn, "PUT /"+md5hex(data)+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testRootToken+
		"\r\nContent-Length: "+itoa(len(data))+"\r\n\r\n"+string(data[:60000]))
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 400, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "reading the block failed")
	_, err = os.Stat(tc.srv.Volume().BlockPath(md5hex(data)))
	assert.True(t, os.IsNotExist(err))
	assertNoTemporary(t, tc)
}
