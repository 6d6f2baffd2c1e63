package blocks

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/keepfed/keepfed/signing"
)

// maxConfirmations bounds the confirmation memo.
const maxConfirmations = 1 << 16

// confirmations remembers which (salted token, remote locator) pairs a
// remote has accepted, so that a cached block is served only to those
// the remote would serve it to. An entry lasts until the signature's
// expiry or Login.RemoteTokenRefresh after the confirmation, whichever is
// first. Keys are SHA-256 hashes over signing.CacheKey of the salted
// token and the locator: no token is held.
type confirmations struct {
	refresh time.Duration
	max     int

	mu sync.Mutex
	m  map[[32]byte]int64 // until, Unix nanoseconds
}

func newConfirmations(refresh time.Duration, max int) *confirmations {
	return &confirmations{refresh: refresh, max: max, m: map[[32]byte]int64{}}
}

// confirmKey is the memo key of a salted token and the locator sent to
// the remote (with its +A signature).
func confirmKey(salted, remoteLoc string) [32]byte {
	tk := signing.CacheKey(salted)
	h := sha256.New()
	h.Write(tk[:])
	h.Write([]byte{0})
	h.Write([]byte(remoteLoc))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// ok reports whether the pair was confirmed and has not expired.
func (c *confirmations) ok(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, found := c.m[k]
	if !found {
		return false
	}
	if now.UnixNano() >= until {
		delete(c.m, k)
		return false
	}
	return true
}

// add remembers that the remote accepted the pair; sigExpiry is the
// signature's expiry (Unix seconds). When the memo is full, expired
// entries go first, then arbitrary ones (Go's map order) down to 3/4.
func (c *confirmations) add(k [32]byte, sigExpiry int64, now time.Time) {
	until := now.Add(c.refresh).UnixNano()
	if e := time.Unix(sigExpiry, 0).UnixNano(); e < until {
		until = e
	}
	if until <= now.UnixNano() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, found := c.m[k]; !found && len(c.m) >= c.max {
		n := now.UnixNano()
		for key, u := range c.m {
			if u <= n {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) <= c.max*3/4 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = until
}

// len returns the number of remembered pairs.
func (c *confirmations) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// signatureExpiry returns the expiry (Unix seconds) of the first
// "+A<signature>@<hex expiry>" hint of a locator.
func signatureExpiry(loc string) (int64, bool) {
	for {
		i := strings.Index(loc, "+A")
		if i < 0 {
			return 0, false
		}
		hint := loc[i+2:]
		if j := strings.IndexByte(hint, '+'); j >= 0 {
			hint = hint[:j]
		}
		at := strings.IndexByte(hint, '@')
		if at < 0 {
			loc = loc[i+2:]
			continue
		}
		hex := hint[at+1:]
		if len(hex) == 0 || len(hex) > 15 {
			return 0, false
		}
		var v int64
		for k := 0; k < len(hex); k++ {
			c := hex[k]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | int64(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | int64(c-'a'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
}
