package metrics

import (
	"strconv"
	"sync/atomic"
)

// Cache is the remote block cache's counters (keepfed_remote_cache_*).
// All fields are safe for concurrent use; the zero value is ready.
type Cache struct {
	// Enabled is set when the cache is on; the cache metrics are
	// rendered only then.
	Enabled atomic.Bool
	// Hits counts +R reads answered from the cache.
	Hits atomic.Uint64
	// Misses counts +R reads of cacheable blocks not in the cache.
	Misses atomic.Uint64
	// BytesServed counts block bytes sent to clients from the cache.
	BytesServed atomic.Uint64
	// Evictions counts blocks removed to make room (or found corrupt).
	Evictions atomic.Uint64
	// Coalesced counts reads that joined another read's remote fetch
	// instead of starting their own.
	Coalesced atomic.Uint64
	// ConfirmAccepted, ConfirmRefused and ConfirmFailed count the HEAD
	// requests that asked a remote whether a (token, signature) pair may
	// read a cached block, by outcome.
	ConfirmAccepted atomic.Uint64
	ConfirmRefused  atomic.Uint64
	ConfirmFailed   atomic.Uint64
	// SharedHits counts blocks read from the local keepstores instead
	// of the remote (arvados backend); SharedStores counts blocks
	// stored there after a remote fetch.
	SharedHits   atomic.Uint64
	SharedStores atomic.Uint64
	// Bytes and Blocks are what the cache holds now (gauges).
	Bytes  atomic.Int64
	Blocks atomic.Int64
}

// appendText appends the cache's samples in the Prometheus text format.
func (c *Cache) appendText(b []byte) []byte {
	if !c.Enabled.Load() {
		return b
	}
	counter := func(b []byte, name, help string, v uint64) []byte {
		b = append(b, "# HELP "+name+" "+help+"\n# TYPE "+name+" counter\n"+name+" "...)
		b = strconv.AppendUint(b, v, 10)
		return append(b, '\n')
	}
	b = counter(b, "keepfed_remote_cache_hits_total", "Remote block reads answered from the remote block cache.", c.Hits.Load())
	b = counter(b, "keepfed_remote_cache_misses_total", "Remote block reads of cacheable blocks that were not cached.", c.Misses.Load())
	b = counter(b, "keepfed_remote_cache_served_bytes_total", "Block bytes sent to clients from the remote block cache.", c.BytesServed.Load())
	b = counter(b, "keepfed_remote_cache_evictions_total", "Blocks removed from the remote block cache.", c.Evictions.Load())
	b = counter(b, "keepfed_remote_cache_coalesced_total", "Remote block reads that waited on another read's fetch instead of fetching.", c.Coalesced.Load())
	b = counter(b, "keepfed_remote_cache_shared_hits_total", "Remote blocks read from the local keepstores (arvados backend) instead of the remote.", c.SharedHits.Load())
	b = counter(b, "keepfed_remote_cache_shared_stores_total", "Remote blocks stored in the local keepstores (arvados backend) after a remote fetch.", c.SharedStores.Load())
	b = append(b, "# HELP keepfed_remote_cache_confirmations_total HEAD requests asking a remote to confirm a token and signature for a cached block, by result.\n# TYPE keepfed_remote_cache_confirmations_total counter\n"...)
	for _, r := range []struct {
		name string
		v    uint64
	}{{"accepted", c.ConfirmAccepted.Load()}, {"refused", c.ConfirmRefused.Load()}, {"failed", c.ConfirmFailed.Load()}} {
		b = append(b, `keepfed_remote_cache_confirmations_total{result="`+r.name+`"} `...)
		b = strconv.AppendUint(b, r.v, 10)
		b = append(b, '\n')
	}
	b = append(b, "# HELP keepfed_remote_cache_bytes Bytes of blocks in the remote block cache.\n# TYPE keepfed_remote_cache_bytes gauge\nkeepfed_remote_cache_bytes "...)
	b = strconv.AppendInt(b, c.Bytes.Load(), 10)
	b = append(b, "\n# HELP keepfed_remote_cache_blocks Blocks in the remote block cache.\n# TYPE keepfed_remote_cache_blocks gauge\nkeepfed_remote_cache_blocks "...)
	b = strconv.AppendInt(b, c.Blocks.Load(), 10)
	return append(b, '\n')
}
