package bench

import (
	"crypto/md5"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The manifest baselines do what Arvados's Go code does, the way it does
// it: regular expressions over whitespace-delimited tokens, string
// replacement per token, a fresh HMAC per locator (BaselineSign) and fmt.
var (
	baselineManifestTokenRe = regexp.MustCompile(`\S+`)
	baselineBlockRe         = regexp.MustCompile(`^[0-9a-f]{32}`)
	baselinePermHintRe      = regexp.MustCompile(`\+A[^+]*`)
	baselineRemoteTokenRe   = regexp.MustCompile(` [0-9a-f]{32}\+[^ ]*`)
)

// BaselineSignManifest signs every block token of m (SignManifest).
func BaselineSignManifest(m string, key []byte, token string, expiry time.Time, ttl time.Duration) string {
	return baselineManifestTokenRe.ReplaceAllStringFunc(m, func(tok string) string {
		if !baselineBlockRe.MatchString(tok) {
			return tok
		}
		return BaselineSign(key, baselinePermHintRe.ReplaceAllString(tok, ""), token, expiry, ttl)
	})
}

// BaselineStripManifest removes every +A hint from block tokens.
func BaselineStripManifest(m string) string {
	return baselineManifestTokenRe.ReplaceAllStringFunc(m, func(tok string) string {
		if !baselineBlockRe.MatchString(tok) {
			return tok
		}
		return baselinePermHintRe.ReplaceAllString(tok, "")
	})
}

// BaselineToRemote turns every +A into +R<cluster>- in block tokens, as
// the controller does; with a key and token it also appends a local +A
// signature to each of them.
func BaselineToRemote(m, cluster string, key []byte, token string, expiry time.Time, ttl time.Duration) string {
	return baselineRemoteTokenRe.ReplaceAllStringFunc(m, func(tok string) string {
		out := strings.ReplaceAll(tok, "+A", "+R"+cluster+"-")
		if len(key) == 0 || token == "" {
			return out
		}
		sig := BaselineSignature(key, tok[1:33], token, expiry, ttl)
		return fmt.Sprintf("%s+A%s@%08x", out, sig, expiry.Unix())
	})
}

// BaselinePortableDataHash computes the PDH with Go's token rule on the
// space-separated tokens of m.
func BaselinePortableDataHash(m string) string {
	toks := strings.Split(m, " ")
	for i := 0; i < len(toks)-1; i++ {
		tok := toks[i]
		if len(tok) >= 34 && tok[32] == '+' && !strings.HasPrefix(tok, ".") && !strings.Contains(tok[:32], ":") {
			if parts := strings.SplitN(tok, "+", 3); len(parts) == 3 {
				toks[i] = parts[0] + "+" + parts[1]
			}
		}
	}
	stripped := strings.Join(toks, " ")
	return fmt.Sprintf("%x+%d", md5.Sum([]byte(stripped)), len(stripped))
}
