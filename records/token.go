package records

import (
	"bytes"
	"encoding/base64"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

// ExtractToken returns the request's first API token, looking where
// Arvados's Go services look (spec 2.2): Authorization Bearer/OAuth2
// (scheme case-sensitive, value trimmed) or Basic (the password), the
// api_token query parameter, the arvados_api_token cookie (base64url), then
// the api_token field of a form body. Unlike Arvados (spec 9.18), a form
// body counts with any application/x-www-form-urlencoded content type, a
// charset parameter included: the proxy strips api_token from every such
// body before forwarding, so it must also be the token it salts and sends.
func ExtractToken(req *fasthttp.Request) string {
	if t := ExtractHeaderToken(req); t != "" {
		return t
	}
	if isForm(req) {
		var args fasthttp.Args
		args.ParseBytes(req.Body())
		if v := args.Peek("api_token"); len(v) > 0 {
			return string(v)
		}
	}
	return ""
}

// ExtractHeaderToken is ExtractToken without the form body: the token of
// the Authorization header, api_token query parameter or arvados_api_token
// cookie. It never reads the body, so it can run before the body arrives.
func ExtractHeaderToken(req *fasthttp.Request) string {
	if auth := req.Header.Peek("Authorization"); len(auth) > 0 {
		if sp := bytes.IndexByte(auth, ' '); sp > 0 {
			scheme, val := auth[:sp], bytes.TrimSpace(auth[sp+1:])
			switch string(scheme) {
			case "Bearer", "OAuth2":
				if len(val) > 0 {
					return string(val)
				}
			case "Basic":
				if dec, err := base64.StdEncoding.DecodeString(string(val)); err == nil {
					if i := bytes.IndexByte(dec, ':'); i >= 0 && i+1 < len(dec) {
						return string(dec[i+1:])
					}
				}
			}
		}
	}
	if v := req.URI().QueryArgs().Peek("api_token"); len(v) > 0 {
		return string(v)
	}
	if c := req.Header.Cookie("arvados_api_token"); len(c) > 0 {
		if dec, err := base64.URLEncoding.DecodeString(string(c)); err == nil && len(dec) > 0 {
			return string(dec)
		}
	}
	return ""
}

// isForm reports whether the request body is URL-encoded form data.
func isForm(req *fasthttp.Request) bool {
	return bytes.HasPrefix(req.Header.ContentType(), []byte("application/x-www-form-urlencoded"))
}

// saltFor returns the token to send to cluster (spec 2.3): unchanged when
// cluster issued it, else salted; an obsolete v1 token is first upgraded
// with Config.UpgradeV1. No token: "" (the request goes out anonymous).
// Failures are 401 with the reason.
func (p *Proxy) saltFor(token, cluster string) (string, error) {
	if token == "" {
		return "", nil
	}
	if p.cfg.CheckForward != nil {
		if err := p.cfg.CheckForward(token, cluster); err != nil {
			return "", wrapError(fasthttp.StatusUnauthorized, err.Error(), err)
		}
	}
	salted, err := signing.SaltToken(token, cluster)
	if errors.Is(err, signing.ErrObsoleteToken) && p.cfg.UpgradeV1 != nil {
		if v2, ok := p.cfg.UpgradeV1(token); ok {
			salted, err = signing.SaltToken(v2, cluster)
		}
	}
	if err != nil {
		return "", wrapError(fasthttp.StatusUnauthorized,
			"cannot forward token to cluster "+cluster+": "+err.Error(), err)
	}
	return salted, nil
}

// toLocal returns the rewriter for manifests coming back from cluster: +A
// hints become +R<cluster>- ones, plus a local +A for the reader's own
// token when SignRemoteLocators is on.
func (p *Proxy) toLocal(cluster, token string) *manifest.Rewriter {
	var rw manifest.Rewriter
	if p.cfg.SignRemoteLocators && token != "" {
		rw = manifest.ToRemoteSigned(cluster, p.cfg.KeyRing, token, time.Now().Add(p.ttl).Unix())
	} else {
		rw = manifest.ToRemote(cluster)
	}
	return &rw
}
