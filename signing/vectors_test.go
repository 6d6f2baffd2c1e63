package signing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepfed/keepfed/internal/testvectors"
)

var loadVectors = testvectors.Load

type signCase struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	Token      string `json:"token"`
	Locator    string `json:"locator"`
	ExpiryUnix int64  `json:"expiry_unix"`
	TTLNanos   int64  `json:"ttl_nanoseconds"`
	ExpiryHex  string `json:"expiry_hex"`
	TTLHex     string `json:"ttl_hex"`
	Message    string `json:"hmac_message"`
	Signature  string `json:"signature"`
	Expected   string `json:"expected"`
}

type verifyCase struct {
	ID            string  `json:"id"`
	Locator       string  `json:"locator"`
	Token         string  `json:"token"`
	Key           string  `json:"key"`
	TTLNanos      int64   `json:"ttl_nanoseconds"`
	ExpectedError *string `json:"expected_error"`
	GetStatus     int     `json:"keepstore_get_status"`
	HeadStatus    int     `json:"keepstore_head_status"`
	Reason        string  `json:"keepstore_reason"`
}

type signatureVectors struct {
	Now    int64        `json:"verify_now_unix"`
	Sign   []signCase   `json:"sign_cases"`
	Verify []verifyCase `json:"verify_cases"`
}

func TestSignVectors(t *testing.T) {
	var v signatureVectors
	loadVectors(t, "signatures.json", &v)
	require.NotEmpty(t, v.Sign)
	for _, c := range v.Sign {
		t.Run(c.ID, func(t *testing.T) {
			ttl := time.Duration(c.TTLNanos)
			ring := NewKeyRing(ttl, []byte(c.Key))
			got := ring.AppendSigned(nil, c.Locator, c.Token, c.ExpiryUnix)
			assert.Equal(t, c.Expected, string(got))
			if c.Signature == "" {
				return
			}
			assert.Equal(t, c.ExpiryHex, string(AppendExpiryHex(nil, c.ExpiryUnix)))
			assert.Equal(t, c.TTLHex, string(AppendTTLHex(nil, ttl)))
			// the per-key primitive gives the bare signature
			hash := c.Locator[:HashLen]
			sig := NewKey([]byte(c.Key)).AppendSignature(nil, hash, c.Token, c.ExpiryHex, c.TTLHex)
			assert.Equal(t, c.Signature, string(sig))
		})
	}
}

func TestVerifyVectors(t *testing.T) {
	var v signatureVectors
	loadVectors(t, "signatures.json", &v)
	require.NotEmpty(t, v.Verify)
	for _, c := range v.Verify {
		t.Run(c.ID, func(t *testing.T) {
			ring := NewKeyRing(time.Duration(c.TTLNanos), []byte(c.Key))
			want := "ok"
			if c.ExpectedError != nil {
				want = *c.ExpectedError
			}
			assert.Equal(t, want, ErrorClass(ring.Verify(c.Locator, c.Token, v.Now)))
			// A ring whose current key is unrelated but that keeps this key
			// as a previous key gives the same answer.
			rotated := NewKeyRing(time.Duration(c.TTLNanos), []byte("some-new-key"), []byte(c.Key))
			if c.Key != "" {
				assert.Equal(t, want, ErrorClass(rotated.Verify(c.Locator, c.Token, v.Now)))
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	const loc = "acbd18db4cc2f85cedef654fccc4a4d8+3"
	const tok = "v2/zzzzz-gj3su-077z32aux8dg2s1/3kg6k6lzmp9kj5cpkcoxie963cmvjahbt2fod9zru30k1jqdmi"
	ttl := 336 * time.Hour
	now := int64(1800000000)
	old := NewKeyRing(ttl, []byte("old-key"))
	signedOld := string(old.AppendSigned(nil, loc, tok, now+100))
	rotated := NewKeyRing(ttl, []byte("new-key"), []byte("old-key"))
	signedNew := string(rotated.AppendSigned(nil, loc, tok, now+100))
	newOnly := NewKeyRing(ttl, []byte("new-key"))
	tests := []struct {
		name    string
		ring    *KeyRing
		locator string
		want    error
	}{
		{"old signature, old ring", old, signedOld, nil},
		{"old signature, rotated ring", rotated, signedOld, nil},
		{"new signature, rotated ring", rotated, signedNew, nil},
		{"new signature signed with new key", newOnly, signedNew, nil},
		{"old signature after old key removed", newOnly, signedOld, ErrSignatureInvalid},
		{"new signature, old ring", old, signedNew, ErrSignatureInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.ring.Verify(tc.locator, tok, now))
		})
	}
	assert.NotEqual(t, signedOld, signedNew)
	// wrong token and expired are still classified per Arvados's order
	assert.Equal(t, ErrSignatureInvalid, rotated.Verify(signedOld, tok+"x", now))
	assert.Equal(t, ErrSignatureExpired, rotated.Verify(signedOld, tok+"x", now+101))
}

type locatorCase struct {
	ID             string  `json:"id"`
	Locator        string  `json:"locator"`
	DocRegexp      bool    `json:"doc_regexp"`
	Rails          bool    `json:"rails_locator_regexp"`
	BlockDigest    bool    `json:"go_blockdigest_pattern"`
	PDH            bool    `json:"pdh_match"`
	KeepstoreRoute bool    `json:"keepstore_route_match"`
	KeepproxyRoute bool    `json:"keepproxy_route_match"`
	KHintRemoved   string  `json:"keepproxy_k_hint_removed"`
	PDHRoute       bool    `json:"controller_collections_by_pdh_route"`
	KeepstoreError *string `json:"keepstore_locator_error"`
	Signed         *struct {
		Hash        string `json:"hash"`
		SizeHint    string `json:"size_hint"`
		HintsBefore string `json:"hints_before"`
		Signature   string `json:"signature"`
		ExpiryHex   string `json:"expiry_hex"`
		HintsAfter  string `json:"hints_after"`
	} `json:"signed_locator_re"`
	KeepstoreInfo *struct {
		Hash   string `json:"hash"`
		Size   int64  `json:"size"`
		Remote bool   `json:"remote"`
		Signed bool   `json:"signed"`
	} `json:"keepstore_locator_info"`
	Client *struct {
		Hash  string   `json:"hash"`
		Size  int64    `json:"size"`
		Hints []string `json:"hints"`
	} `json:"keepclient_make_locator"`
	Translation *struct {
		RemoteID   string `json:"remote_id"`
		Translated string `json:"translated"`
		Error      string `json:"error"`
	} `json:"keepstore_remote_translation"`
}

type locatorVectors struct {
	Description struct {
		Fixed struct {
			Remotes []string `json:"configured_remote_clusters_for_keepstore_remote_translation"`
		} `json:"fixed_parameters"`
	} `json:"description"`
	Cases []locatorCase `json:"cases"`
}

func TestLocatorVectors(t *testing.T) {
	var v locatorVectors
	loadVectors(t, "locators.json", &v)
	require.NotEmpty(t, v.Cases)
	configured := map[string]bool{}
	for _, r := range v.Description.Fixed.Remotes {
		configured[r] = true
	}
	require.NotEmpty(t, configured)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			s := c.Locator
			loc, err := ParseLocator(s)
			assert.Equal(t, c.DocRegexp, err == nil, "doc grammar: %v", err)
			if err == nil {
				assert.Equal(t, s, loc.String(), "round trip")
			}
			assert.Equal(t, c.Rails, MatchesRailsLocator(s), "rails regexp")
			assert.Equal(t, c.BlockDigest, MatchesBlockDigest(s), "blockdigest pattern")
			assert.Equal(t, c.PDH, IsPDH(s), "PDHMatch")
			assert.Equal(t, c.KeepstoreRoute, KeepstoreRouteMatch(s), "keepstore route")
			assert.Equal(t, c.KeepproxyRoute, KeepproxyRouteMatch(s), "keepproxy route")
			assert.Equal(t, c.KHintRemoved, string(AppendWithoutServiceHints(nil, s)), "+K removal")
			assert.Equal(t, c.PDHRoute, CollectionPDHRouteMatch(s), "controller PDH route")

			p, ok := SplitSigned(s)
			if assert.Equal(t, c.Signed != nil, ok, "signed pattern") && ok {
				assert.Equal(t, c.Signed.Hash, p.Hash)
				assert.Equal(t, c.Signed.SizeHint, p.SizeHint)
				assert.Equal(t, c.Signed.HintsBefore, p.HintsBefore)
				assert.Equal(t, c.Signed.Signature, p.Signature)
				assert.Equal(t, c.Signed.ExpiryHex, p.ExpiryHex)
				assert.Equal(t, c.Signed.HintsAfter, p.HintsAfter)
			}

			info, err := KeepstoreLocatorInfo(s)
			if assert.Equal(t, c.KeepstoreInfo != nil, err == nil, "keepstore info: %v", err) && err == nil {
				assert.Equal(t, c.KeepstoreInfo.Hash, info.Hash)
				assert.Equal(t, c.KeepstoreInfo.Size, info.Size)
				assert.Equal(t, c.KeepstoreInfo.Remote, info.Remote)
				assert.Equal(t, c.KeepstoreInfo.Signed, info.Signed)
			} else if err != nil && c.KeepstoreError != nil {
				assert.Equal(t, *c.KeepstoreError, err.Error())
			}

			cl, ok := ParseClientLocator(s)
			if assert.Equal(t, c.Client != nil, ok, "keepclient MakeLocator") && ok {
				assert.Equal(t, c.Client.Hash, cl.Hash)
				assert.Equal(t, c.Client.Size, cl.Size)
				assert.Equal(t, c.Client.Hints, cl.Hints)
			}

			takesRemotePath := err == nil && info.Remote && !info.Signed
			if assert.Equal(t, c.Translation != nil, takesRemotePath, "remote path") && takesRemotePath {
				out, remote, terr := TranslateRemote(nil, s, func(id string) bool { return configured[id] })
				assert.Equal(t, c.Translation.RemoteID, remote)
				if c.Translation.Error != "" {
					if assert.Error(t, terr) {
						assert.Equal(t, c.Translation.Error, terr.Error())
					}
				} else {
					assert.NoError(t, terr)
					assert.Equal(t, c.Translation.Translated, string(out))
					id, ok := RemoteCluster(s)
					assert.True(t, ok)
					assert.Equal(t, remote, id)
				}
			}
		})
	}
}

type saltCase struct {
	ID       string  `json:"id"`
	Token    string  `json:"token"`
	Remote   string  `json:"remote"`
	Expected *string `json:"expected"`
	Error    *string `json:"error"`
	HMACKey  string  `json:"hmac_key"`
}

func TestSaltVectors(t *testing.T) {
	var v struct {
		Cases []saltCase `json:"cases"`
	}
	loadVectors(t, "salt.json", &v)
	require.NotEmpty(t, v.Cases)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			got, err := SaltToken(c.Token, c.Remote)
			if c.Error != nil {
				assert.Equal(t, *c.Error, SaltErrorClass(err))
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, *c.Expected, got)
			if c.HMACKey != "" && got != c.Token {
				tok := ParseToken(got)
				orig := ParseToken(c.Token)
				assert.Equal(t, c.HMACKey, orig.Secret)
				// the home cluster recognises the salt it would have made
				assert.True(t, SaltedFor(tok.Secret, orig.Secret, c.Remote))
				assert.False(t, SaltedFor(tok.Secret, orig.Secret, c.Remote+"x"))
			}
		})
	}
}
