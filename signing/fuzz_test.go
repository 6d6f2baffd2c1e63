package signing

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The grammar of spec 3.1 and Arvados's verifier pattern, as regexps: the
// oracles the hand-written parsers are fuzzed against.
var (
	docLocatorRe    = regexp.MustCompile(`^([0-9a-f]{32})\+([0-9]+)(\+[A-Z][-A-Za-z0-9@_]*)*$`)
	signedLocatorRe = regexp.MustCompile(`^([[:xdigit:]]{32})(\+[0-9]+)?((\+[B-Z][A-Za-z0-9@_-]*)*)(\+A([[:xdigit:]]{40})@([[:xdigit:]]{8}))((\+[B-Z][A-Za-z0-9@_-]*)*)$`)
	blockDigestRe   = regexp.MustCompile(`^[0-9a-fA-F]{32}\+[0-9]+(\+[A-Z][A-Za-z0-9@_-]*)*$`)
	pdhRe           = regexp.MustCompile(`^[0-9a-f]{32}\+\d+$`)
)

func addLocatorSeeds(f *testing.F) {
	var v locatorVectors
	loadVectors(f, "locators.json", &v)
	for _, c := range v.Cases {
		f.Add(c.Locator)
	}
}

func FuzzParseLocator(f *testing.F) {
	addLocatorSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocator(s)
		if want := docLocatorRe.MatchString(s); want != (err == nil) {
			t.Fatalf("ParseLocator(%q) error %v, grammar says valid=%v", s, err, want)
		}
		if err == nil && loc.String() != s {
			t.Fatalf("round trip %q -> %q", s, loc.String())
		}
		p, ok := SplitSigned(s)
		m := signedLocatorRe.FindStringSubmatch(s)
		if ok != (m != nil) {
			t.Fatalf("SplitSigned(%q) = %v, pattern says %v", s, ok, m != nil)
		}
		if ok && (p.Hash != m[1] || p.SizeHint != m[2] || p.HintsBefore != m[3] || p.Signature != m[6] || p.ExpiryHex != m[7] || p.HintsAfter != m[8]) {
			t.Fatalf("SplitSigned(%q) = %+v, pattern captures %q", s, p, m)
		}
		if MatchesBlockDigest(s) != blockDigestRe.MatchString(s) {
			t.Fatalf("MatchesBlockDigest(%q) disagrees with the pattern", s)
		}
		if IsPDH(s) != pdhRe.MatchString(s) {
			t.Fatalf("IsPDH(%q) disagrees with the pattern", s)
		}
		// the lenient parsers must not panic, and never accept what the
		// route refuses
		if _, err := KeepstoreLocatorInfo(s); err == nil && !KeepstoreRouteMatch(s) && !strings.Contains(s, "\n") {
			t.Fatalf("keepstore info accepts %q but its route does not", s)
		}
		_, _ = ParseClientLocator(s)
		_ = AppendWithoutServiceHints(nil, s)
		_, _, _ = TranslateRemote(nil, s, func(string) bool { return true })
	})
}

func FuzzSignVerify(f *testing.F) {
	f.Add("acbd18db4cc2f85cedef654fccc4a4d8+3", "hocfupkn2pjhrpgp2vxv8rsku7tvtx49arbc9s4bvu7p7wxqvk", "key", int64(2147483647), int64(1209600))
	f.Add("acbd18db4cc2f85cedef654fccc4a4d8+3+K@zzzzz", benchToken, benchKey, benchExpiry, int64(3600))
	f.Add("acbd18db4cc2f85cedef654fccc4a4d8", "t", "k", int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, locator, token, key string, expiry, ttlSeconds int64) {
		if ttlSeconds > 1<<32 || ttlSeconds < -(1<<32) {
			return
		}
		ring := NewKeyRing(time.Duration(ttlSeconds)*time.Second, []byte(key))
		signed := string(ring.AppendSigned(nil, locator, token, expiry))
		if key == "" || token == "" {
			if signed != locator {
				t.Fatalf("unsigned output changed the locator: %q", signed)
			}
			return
		}
		if !strings.HasPrefix(signed, locator+"+A") {
			t.Fatalf("signed %q does not extend %q", signed, locator)
		}
		// the signature is the HMAC of the documented message
		hash, _, _ := strings.Cut(locator, "+")
		exp := string(AppendExpiryHex(nil, expiry))
		mac := hmac.New(sha1.New, []byte(key))
		mac.Write([]byte(hash + "@" + token + "@" + exp + "@" + string(AppendTTLHex(nil, time.Duration(ttlSeconds)*time.Second))))
		if want := locator + "+A" + hex.EncodeToString(mac.Sum(nil)) + "@" + exp; signed != want {
			t.Fatalf("signed %q, want %q", signed, want)
		}
		// a well-formed unsigned locator verifies after signing, as long as
		// the expiry fits the 8 hex digits and is not past
		if docLocatorRe.MatchString(locator) && !strings.Contains(locator, "+A") && expiry >= 0 && expiry < 1<<32 {
			if err := ring.Verify(signed, token, expiry); err != nil {
				t.Fatalf("Verify(%q) = %v", signed, err)
			}
			if expiry > 0 {
				if err := ring.Verify(signed, token, expiry+1); err != ErrSignatureExpired {
					t.Fatalf("Verify after expiry = %v", err)
				}
			}
			if err := ring.Verify(signed, token+"x", expiry); err != ErrSignatureInvalid {
				t.Fatalf("Verify with another token = %v", err)
			}
		}
	})
}

func FuzzSaltToken(f *testing.F) {
	var v struct {
		Cases []saltCase `json:"cases"`
	}
	loadVectors(f, "salt.json", &v)
	for _, c := range v.Cases {
		f.Add(c.Token, c.Remote)
	}
	f.Fuzz(func(t *testing.T, token, remote string) {
		got, err := SaltToken(token, remote)
		// oracle: the algorithm as spec 2.3 states it
		parts := strings.Split(token, "/")
		switch {
		case len(parts) < 3 || parts[0] != "v2":
			want := ErrTokenFormat
			if regexp.MustCompile(`^[0-9a-z]{41,}$`).MatchString(token) {
				want = ErrObsoleteToken
			}
			if err != want {
				t.Fatalf("SaltToken(%q) error %v, want %v", token, err, want)
			}
		case strings.HasPrefix(parts[1], remote):
			if err != nil || got != token {
				t.Fatalf("SaltToken(%q, %q) = %q, %v; want unchanged", token, remote, got, err)
			}
		case len(parts[2]) == 40:
			if err != ErrSalted {
				t.Fatalf("SaltToken(%q) error %v, want salted", token, err)
			}
		default:
			mac := hmac.New(sha1.New, []byte(parts[2]))
			mac.Write([]byte(remote))
			if want := "v2/" + parts[1] + "/" + hex.EncodeToString(mac.Sum(nil)); err != nil || got != want {
				t.Fatalf("SaltToken(%q, %q) = %q, %v; want %q", token, remote, got, err, want)
			}
			if !SaltedFor(ParseToken(got).Secret, parts[2], remote) {
				t.Fatalf("SaltedFor rejects its own salt")
			}
		}
	})
}

// FuzzRemoteRoundTrip: AppendFromRemote undoes AppendToRemote on every
// locator without +R hints of that cluster, sizes and hints included.
func FuzzRemoteRoundTrip(f *testing.F) {
	addLocatorSeeds(f)
	f.Add("acbd18db4cc2f85cedef654fccc4a4d8+A89118b78732c33104a4d6231e8b5a5fa1e4301e3@7fffffff")
	f.Fuzz(func(t *testing.T, loc string) {
		const cluster = "zzzzz"
		if strings.Contains(loc, "+Rzzzzz-") || strings.ContainsAny(loc, " \n") || !strings.Contains(loc, "+") {
			return
		}
		// only +A hints with content survive the trip ("+A" alone becomes
		// "+Rzzzzz-", which is not a remote hint of length > 7)
		for _, p := range strings.Split(loc, "+")[1:] {
			if p == "" || (p[0] == 'A' && len(p) == 1) {
				return
			}
		}
		remote := string(AppendToRemote(nil, loc, cluster))
		back := string(AppendFromRemote(nil, remote, cluster))
		if back != loc {
			t.Fatalf("%q -> %q -> %q", loc, remote, back)
		}
	})
}
