package blocks

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/metrics"
)

// RemoteCache is the remote block cache (KeepFed.RemoteBlockCache): a
// directory of remote blocks whose md5 and size were verified, bounded by
// MaxSize, with least-recently-used eviction.
//
// Layout: <Dir>/<hash[0:3]>/<hash> for cached blocks and <Dir>/tmp/ for
// blocks being fetched. A block is written to a temporary file, fsynced,
// and renamed into place only once verified, so a cached file is always a
// whole verified block. At start the index is rebuilt by listing Dir (names
// and sizes only, no data is read) and the temporary files are removed;
// recency comes from the files' modification times, which a hit refreshes
// at most once a minute.
//
// Eviction is LRU: the workload is clients re-reading the blocks of the
// collections they work on, for which recency is a good predictor, LRU
// needs O(1) work per hit and miss, and its order survives restarts
// through mtimes. (Scan-resistant policies such as 2Q or ARC would keep a
// hot set through one pass over a huge collection; that is left for when
// it is measured to matter.) Room is made before a block is admitted: a
// fetch reserves its size, evicting the least recently used blocks first,
// so the bytes on disk never exceed MaxSize.
//
// The permission to read a block stays the remote's: see confirmations.
type RemoteCache struct {
	dir, tmpDir string
	max         int64
	clusters    map[string]bool // nil: every remote
	m           *metrics.Cache
	log         *slog.Logger
	now         func() time.Time
	confirm     *confirmations
	storeSlots  chan struct{} // background stores into the keepstores

	mu      sync.Mutex
	used    int64 // bytes of cached blocks and of reservations
	stored  int64 // bytes of cached blocks
	entries map[string]*list.Element
	lru     list.List // of *cacheEntry, most recently used first
	flights map[string]*flight
}

// cacheEntry is one cached block.
type cacheEntry struct {
	hash    string
	size    int64
	touched int64 // Unix seconds of the last mtime refresh
}

// touchEvery is how often a hit refreshes a cached file's mtime, which
// carries the LRU order across restarts.
const touchEvery = 60

// OpenRemoteCache opens (creating it if needed) the cache in cfg.Dir and
// rebuilds its index. refresh is Login.RemoteTokenRefresh, the longest a
// remote's confirmation of a token is trusted.
func OpenRemoteCache(cfg config.RemoteBlockCacheConfig, refresh time.Duration, m *metrics.Metrics, log *slog.Logger, now func() time.Time) (*RemoteCache, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	c := &RemoteCache{
		dir: cfg.Dir, tmpDir: filepath.Join(cfg.Dir, "tmp"), max: int64(cfg.MaxSize),
		m: &m.Cache, log: log, now: now,
		confirm: newConfirmations(refresh, maxConfirmations), storeSlots: make(chan struct{}, maxSharedStores),
		entries: map[string]*list.Element{}, flights: map[string]*flight{},
	}
	if len(cfg.Clusters) > 0 {
		c.clusters = map[string]bool{}
		for _, id := range cfg.Clusters {
			c.clusters[id] = true
		}
	}
	if err := os.MkdirAll(c.tmpDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating the remote block cache directory: %w", err)
	}
	if err := c.rebuild(); err != nil {
		return nil, err
	}
	c.m.Enabled.Store(true)
	return c, nil
}

// rebuild removes leftover temporary files and indexes the cached blocks,
// oldest first, evicting beyond MaxSize (MaxSize may have shrunk).
func (c *RemoteCache) rebuild() error {
	tmps, err := os.ReadDir(c.tmpDir)
	if err != nil {
		return fmt.Errorf("listing the remote block cache: %w", err)
	}
	for _, t := range tmps {
		os.Remove(filepath.Join(c.tmpDir, t.Name()))
	}
	dirs, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("listing the remote block cache: %w", err)
	}
	type found struct {
		hash  string
		size  int64
		mtime time.Time
	}
	var all []found
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 3 || !isLowerHexString(d.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(c.dir, d.Name()))
		if err != nil {
			return fmt.Errorf("listing the remote block cache: %w", err)
		}
		for _, f := range files {
			name := f.Name()
			if len(name) != 32 || name[:3] != d.Name() || !isLowerHexString(name) || !f.Type().IsRegular() {
				continue
			}
			st, err := f.Info()
			if err != nil || st.Size() > MaxBlockSize {
				continue
			}
			all = append(all, found{name, st.Size(), st.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mtime.Before(all[j].mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		c.entries[f.hash] = c.lru.PushFront(&cacheEntry{hash: f.hash, size: f.size, touched: f.mtime.Unix()})
		c.used += f.size
		c.stored += f.size
	}
	for c.used > c.max {
		c.evictLocked(c.lru.Back().Value.(*cacheEntry))
	}
	c.gauges()
	return nil
}

func isLowerHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// Wants reports whether blocks of the remote cluster are cached.
func (c *RemoteCache) Wants(cluster string) bool {
	return c != nil && (c.clusters == nil || c.clusters[cluster])
}

// Bytes returns the bytes of the blocks the cache holds.
func (c *RemoteCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stored
}

// Blocks returns how many blocks the cache holds.
func (c *RemoteCache) Blocks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Contains reports whether the block is cached (for tests and tools).
func (c *RemoteCache) Contains(hash string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[hash]
	return ok
}

// Path returns where a cached block is stored.
func (c *RemoteCache) Path(hash string) string {
	return filepath.Join(c.dir, hash[:3], hash)
}

// open returns the cached block of hash (and size, when size > 0), marking
// it most recently used, or nil when it is not cached.
func (c *RemoteCache) open(hash string, size int64) (*os.File, int64) {
	c.mu.Lock()
	el, ok := c.entries[hash]
	if !ok || (size > 0 && el.Value.(*cacheEntry).size != size) {
		c.mu.Unlock()
		return nil, 0
	}
	e := el.Value.(*cacheEntry)
	c.lru.MoveToFront(el)
	now := c.now().Unix()
	touch := now-e.touched >= touchEvery
	if touch {
		e.touched = now
	}
	c.mu.Unlock()
	f, err := os.Open(c.Path(hash))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.drop(hash) // removed behind our back
		} else {
			c.log.Warn("opening a cached block failed", "hash", hash, "error", err.Error())
		}
		return nil, 0
	}
	if touch {
		t := time.Unix(now, 0)
		os.Chtimes(c.Path(hash), t, t) //nolint:errcheck // recency hint only
	}
	return f, e.size
}

// drop removes a cached block (found missing or corrupt).
func (c *RemoteCache) drop(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[hash]; ok {
		c.evictLocked(el.Value.(*cacheEntry))
		c.gauges()
	}
}

// evictLocked removes e from the index and its file from disk. Readers
// that have the file open keep reading it (POSIX unlink semantics).
func (c *RemoteCache) evictLocked(e *cacheEntry) {
	el := c.entries[e.hash]
	c.lru.Remove(el)
	delete(c.entries, e.hash)
	c.used -= e.size
	c.stored -= e.size
	if err := os.Remove(c.Path(e.hash)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("removing a cached block failed", "hash", e.hash, "error", err.Error())
	}
	c.m.Evictions.Add(1)
}

// reserveLocked makes room for size bytes, evicting least recently used
// blocks, and reserves it. It fails when size exceeds MaxSize.
func (c *RemoteCache) reserveLocked(size int64) bool {
	if size > c.max {
		return false
	}
	for c.used+size > c.max && c.lru.Len() > 0 {
		c.evictLocked(c.lru.Back().Value.(*cacheEntry))
	}
	if c.used+size > c.max {
		return false // the rest is reserved by fetches under way
	}
	c.used += size
	c.gauges()
	return true
}

// admitLocked turns a reservation into a cached block.
func (c *RemoteCache) admitLocked(hash string, size int64) {
	if _, ok := c.entries[hash]; ok {
		c.used -= size // cached meanwhile (the same bytes: same md5)
		return
	}
	c.entries[hash] = c.lru.PushFront(&cacheEntry{hash: hash, size: size, touched: c.now().Unix()})
	c.stored += size
	c.gauges()
}

func (c *RemoteCache) gauges() {
	c.m.Bytes.Store(c.stored)
	c.m.Blocks.Store(int64(len(c.entries)))
}
