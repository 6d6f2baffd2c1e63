package keepfed

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const crashEnv = "KEEPFED_CRASH_DIR"

// crashConfig is the config parent and child share: same cluster id,
// keys and DataDir, so signatures and records survive a restart.
func crashConfig(t testing.TB, dir string) *config.ClusterConfig {
	cfg := testConfig(t, "xcrsh")
	cfg.KeepFed.DataDir = filepath.Join(dir, "data")
	return cfg
}

// TestCrashChild is the server TestCrashSafety runs and kills; it does
// nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	cfg := crashConfig(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.KeepFed.Listen = ln.Addr().String()
	cfg.KeepFed.ExternalURL = "http://" + ln.Addr().String()
	srv, err := NewCluster(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "addr.tmp"), []byte(ln.Addr().String()), 0o600))
	require.NoError(t, os.Rename(filepath.Join(dir, "addr.tmp"), filepath.Join(dir, "addr")))
	srv.Serve(ln) //nolint:errcheck // until killed
}

// TestCrashSafety kills (SIGKILL) a keepfed while clients PUT blocks and
// create records, restarts it on the same DataDir, and checks, over 8
// rounds: every acknowledged block and record is there; a block whose PUT
// was cut is served whole (right md5) or not at all (404); temporary
// files left by killed writes are never served; the record store opens
// and passes store.Check.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cfg := crashConfig(t, dir)
	type block struct {
		data  []byte
		acked bool
	}
	var (
		mu      sync.Mutex
		blocks  = map[string]*block{} // md5 → block
		records []string              // acknowledged collection uuids
	)
	rounds, puts, posts, leftovers := 8, 0, 0, 0
	for round := 0; round < rounds; round++ {
		os.Remove(filepath.Join(dir, "addr"))
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		var addr []byte
		require.Eventually(t, func() bool {
			var err error
			addr, err = os.ReadFile(filepath.Join(dir, "addr"))
			return err == nil
		}, 20*time.Second, 20*time.Millisecond, "child did not start: %s", &stderr)
		url := "http://" + string(addr)

		// everything written before the last kill
		mu.Lock()
		for hash, b := range blocks {
			signed := cfg.KeyRing().AppendSigned(nil, hash+"+"+itoa(len(b.data)), testRootToken, time.Now().Add(time.Hour).Unix())
			r := do(t, "GET", url+"/"+string(signed), testRootToken, nil)
			if r.status == 404 && !b.acked {
				continue
			}
			if assert.Equal(t, 200, r.status, "round %d block %s (acked %v): %s", round, hash, b.acked, r.body) {
				assert.Equal(t, hash, md5hex(r.body), "round %d: a partial or wrong block was served", round)
			}
		}
		for _, uuid := range records {
			r := do(t, "GET", url+"/arvados/v1/collections/"+uuid, testRootToken, nil)
			assert.Equal(t, 200, r.status, "round %d record %s: %s", round, uuid, r.body)
		}
		mu.Unlock()

		// hammer it, and kill it in the middle
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				c := &http.Client{Timeout: 5 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if w%3 == 2 {
						b, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": strings.Repeat("n", rand.IntN(5000))}})
						req, _ := http.NewRequest("POST", url+"/arvados/v1/collections", bytes.NewReader(b))
						req.Header.Set("Authorization", "Bearer "+testRootToken)
						req.Header.Set("Content-Type", "application/json")
						resp, err := c.Do(req)
						if err != nil {
							continue
						}
						var rec struct{ UUID string }
						err = json.NewDecoder(resp.Body).Decode(&rec)
						resp.Body.Close()
						if err == nil && resp.StatusCode == 200 {
							mu.Lock()
							records = append(records, rec.UUID)
							posts++
							mu.Unlock()
						}
						continue
					}
					data := make([]byte, 1+rand.IntN(2<<20))
					for j := range data {
						data[j] = byte(rand.Uint32())
					}
					sum := md5.Sum(data)
					hash := hex.EncodeToString(sum[:])
					b := &block{data: data}
					mu.Lock()
					blocks[hash] = b
					mu.Unlock()
					req, _ := http.NewRequest("PUT", url+"/"+hash, bytes.NewReader(data))
					req.Header.Set("Authorization", "Bearer "+testRootToken)
					resp, err := c.Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body) //nolint:errcheck // test
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						b.acked = true
						puts++
						mu.Unlock()
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		require.NoError(t, cmd.Process.Kill()) // SIGKILL
		cmd.Wait()                             //nolint:errcheck // killed
		close(stop)
		wg.Wait()

		// the store opens consistent while nothing runs
		st, err := identity.OpenEmbeddedStore(cfg)
		require.NoError(t, err, "round %d: store does not open after kill -9", round)
		assert.NoError(t, st.Check(), "round %d", round)
		st.Close()
		// temporary files of killed writes are left now, and never served;
		// the next start removes them
		filepath.WalkDir(filepath.Join(cfg.KeepFed.DataDir, "keep"), func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // test
			if err == nil && strings.HasPrefix(d.Name(), "tmp-") {
				leftovers++
			}
			return nil
		})
	}
	t.Logf("%d rounds: %d blocks and %d records acknowledged, %d blocks written in all, %d temporary files left by killed writes", rounds, puts, posts, len(blocks), leftovers)
	// a start (NewCluster) removes them
	srv, err := NewCluster(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx) //nolint:errcheck // never served
	left := 0
	filepath.WalkDir(filepath.Join(cfg.KeepFed.DataDir, "keep"), func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // test
		if err == nil && strings.HasPrefix(d.Name(), "tmp-") {
			left++
		}
		return nil
	})
	assert.Zero(t, left, "temporary files left after a restart")
}
