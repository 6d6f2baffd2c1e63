package records

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

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

// saltReaders returns the reader tokens as they may be sent to cluster:
// each salted for it (v1 ones upgraded first), or unchanged when cluster
// issued it. A token that cannot be salted — an unknown v1 token, one
// already salted for some cluster, one that is not an Arvados token, one
// CheckForward refuses — is dropped, never sent raw.
func (p *Proxy) saltReaders(tokens []string, cluster string) []string {
	var out []string
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		if p.cfg.CheckForward != nil && p.cfg.CheckForward(tok, cluster) != nil {
			continue
		}
		salted, err := signing.SaltToken(tok, cluster)
		if errors.Is(err, signing.ErrObsoleteToken) && p.cfg.UpgradeV1 != nil {
			if v2, ok := p.cfg.UpgradeV1(tok); ok {
				salted, err = signing.SaltToken(v2, cluster)
			}
		}
		if err == nil {
			out = append(out, salted)
		}
	}
	return out
}

// readerTokensJSON is the reader_tokens parameter value for tokens.
func readerTokensJSON(tokens []string) []byte {
	b, _ := json.Marshal(tokens)
	return b
}
