package bench

import (
	"crypto/hmac"
	"crypto/sha1"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// baselineSignedLocatorRe is the verifier pattern from spec 3.4, compiled
// once as a reasonable straightforward implementation would.
var baselineSignedLocatorRe = regexp.MustCompile(`^([[:xdigit:]]{32})(\+[0-9]+)?((\+[B-Z][A-Za-z0-9@_-]*)*)(\+A([[:xdigit:]]{40})@([[:xdigit:]]{8}))((\+[B-Z][A-Za-z0-9@_-]*)*)$`)

// BaselineSignature computes a signature the straightforward way: a fresh
// HMAC per call, the message built with fmt, hex via fmt.
func BaselineSignature(key []byte, hash, token string, expiry time.Time, ttl time.Duration) string {
	mac := hmac.New(sha1.New, key)
	fmt.Fprintf(mac, "%s@%s@%08x@%s", hash, token, expiry.Unix(), strconv.FormatInt(int64(ttl.Seconds()), 16))
	return fmt.Sprintf("%x", mac.Sum(nil))
}

// BaselineSign signs a locator the straightforward way.
func BaselineSign(key []byte, locator, token string, expiry time.Time, ttl time.Duration) string {
	if len(key) == 0 || token == "" {
		return locator
	}
	hash := strings.SplitN(locator, "+", 2)[0]
	return fmt.Sprintf("%s+A%s@%08x", locator, BaselineSignature(key, hash, token, expiry, ttl), expiry.Unix())
}

// Baseline verification errors.
var (
	errBaselineMissing = errors.New("missing")
	errBaselineExpired = errors.New("expired")
	errBaselineInvalid = errors.New("invalid")
)

// BaselineVerify verifies the straightforward way: regexp match, parse,
// recompute, compare hex strings.
func BaselineVerify(key []byte, locator, token string, now time.Time, ttl time.Duration) error {
	m := baselineSignedLocatorRe.FindStringSubmatch(locator)
	if m == nil {
		return errBaselineMissing
	}
	exp, err := strconv.ParseInt(m[7], 16, 64)
	if err != nil {
		return errBaselineInvalid
	}
	if time.Unix(exp, 0).Before(now) {
		return errBaselineExpired
	}
	mac := hmac.New(sha1.New, key)
	fmt.Fprintf(mac, "%s@%s@%s@%s", m[1], token, m[7], strconv.FormatInt(int64(ttl.Seconds()), 16))
	if fmt.Sprintf("%x", mac.Sum(nil)) != m[6] {
		return errBaselineInvalid
	}
	return nil
}

// BaselineSalt salts a token the straightforward way (split, fresh HMAC,
// fmt).
func BaselineSalt(token, remote string) (string, error) {
	parts := strings.Split(token, "/")
	if len(parts) < 3 || parts[0] != "v2" {
		if regexp.MustCompile(`^[0-9a-z]{41,}$`).MatchString(token) {
			return "", errors.New("obsolete")
		}
		return "", errors.New("format")
	}
	if strings.HasPrefix(parts[1], remote) {
		return token, nil
	}
	if len(parts[2]) == 40 {
		return "", errors.New("salted")
	}
	mac := hmac.New(sha1.New, []byte(parts[2]))
	mac.Write([]byte(remote))
	return fmt.Sprintf("v2/%s/%x", parts[1], mac.Sum(nil)), nil
}
