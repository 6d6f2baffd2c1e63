package store

import (
	"crypto/md5"
	"fmt"
	"strings"
	"testing"

	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/keepfed/keepfed/signing"
)

func TestPortableDataHashVectors(t *testing.T) {
	var v struct {
		Cases []struct {
			ID                 string  `json:"id"`
			Manifest           string  `json:"manifest"`
			PDH                string  `json:"pdh"`
			Signed             *string `json:"signed"`
			PDHSigned          *string `json:"pdh_signed"`
			RemoteRewritten    *string `json:"remote_rewritten"`
			PDHRemoteRewritten *string `json:"pdh_remote_rewritten"`
		} `json:"cases"`
	}
	testvectors.Load(t, "manifests.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Cases {
		if got := portableDataHash(c.Manifest); got != c.PDH {
			t.Errorf("%s: pdh %s, want %s", c.ID, got, c.PDH)
		}
		if c.Signed != nil && c.PDHSigned != nil {
			if got := portableDataHash(*c.Signed); got != *c.PDHSigned {
				t.Errorf("%s: signed pdh %s, want %s", c.ID, got, *c.PDHSigned)
			}
		}
		if c.RemoteRewritten != nil && c.PDHRemoteRewritten != nil {
			if got := portableDataHash(*c.RemoteRewritten); got != *c.PDHRemoteRewritten {
				t.Errorf("%s: remote pdh %s, want %s", c.ID, got, *c.PDHRemoteRewritten)
			}
		}
	}
}

func TestPortableDataHash(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "d41d8cd98f00b204e9800998ecf8427e+0"},
		{". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n", "1f4b0bc7583c2a7f9102c395f4ffc5e3+45"},
		{". acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@123+K@yyyyy 0:3:foo\n", "1f4b0bc7583c2a7f9102c395f4ffc5e3+45"},
	} {
		if got := portableDataHash(c.in); got != c.want {
			t.Errorf("pdh(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestCollectionPDH(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	b := newUser(t, s, "b@example.com", false)
	const foo = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n"
	const fooPDH = "1f4b0bc7583c2a7f9102c395f4ffc5e3+45"

	c := mustCreate(t, s, Collections, Record{"manifest_text": foo}, a)
	if c["portable_data_hash"] != fooPDH || c["manifest_text"] != foo {
		t.Fatalf("collection %v", c)
	}
	empty := mustCreate(t, s, Collections, Record{}, a)
	if empty["portable_data_hash"] != "d41d8cd98f00b204e9800998ecf8427e+0" || empty["manifest_text"] != "" {
		t.Fatalf("empty collection %v", empty)
	}
	// A supplied PDH is fine when its hash agrees (size and hints ignored).
	mustCreate(t, s, Collections, Record{"manifest_text": foo, "portable_data_hash": "1f4b0bc7583c2a7f9102c395f4ffc5e3+99"}, a)
	_, err := s.Create(Collections, Record{"manifest_text": foo, "portable_data_hash": "d41d8cd98f00b204e9800998ecf8427e+0"}, a)
	wantStatus(t, err, 422)
	// Updating the manifest recomputes the PDH.
	u, err := s.Update(Collections, empty.UUID(), Record{"manifest_text": foo}, a)
	if err != nil || u["portable_data_hash"] != fooPDH {
		t.Fatalf("update: %v %v", u, err)
	}

	got, err := s.FindByPDH(fooPDH, a)
	if err != nil {
		t.Fatal(err)
	}
	if got["portable_data_hash"] != fooPDH || got.UUID() != u.UUID() { // latest modified
		t.Fatalf("FindByPDH = %v, want %s", got.UUID(), u.UUID())
	}
	if got, err := s.FindByPDH(fooPDH+"+Afoo@bar", a); err != nil || got["portable_data_hash"] != fooPDH {
		t.Fatalf("with hints: %v", err)
	}
	// A trashed copy is chosen only when there is no other.
	if _, err := s.Update(Collections, u.UUID(), Record{"is_trashed": true}, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindByPDH(fooPDH, a); got.UUID() == u.UUID() {
		t.Fatal("chose the trashed copy")
	}
	_, err = s.FindByPDH(fooPDH, b)
	wantStatus(t, err, 404)
	for _, bad := range []string{"", "nonsense", "1f4b0bc7583c2a7f9102c395f4ffc5e3", "1f4b0bc7583c2a7f9102c395f4ffc5e3+", "1F4B0BC7583C2A7F9102C395F4FFC5E3+45", "1f4b0bc7583c2a7f9102c395f4ffc5e3+45x"} {
		_, err = s.FindByPDH(bad, a)
		wantStatus(t, err, 404)
	}
	// Shared with b: now b finds it.
	mustCreate(t, s, Links, Record{"link_class": "permission", "name": "can_read", "tail_uuid": b.User.UUID, "head_uuid": c.UUID()}, a)
	if got, err := s.FindByPDH(fooPDH, b); err != nil || got.UUID() != c.UUID() {
		t.Fatalf("b: %v %v", got.UUID(), err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkGetCollection(b *testing.B) {
	s := newTestStore(b)
	a := newUser(b, s, "bench@example.com", false)
	var m strings.Builder
	for i := range 200 {
		fmt.Fprintf(&m, "./dir%d %032x+67108864 0:67108864:file%d\n", i, i, i)
	}
	c := mustCreate(b, s, Collections, Record{"name": "bench", "manifest_text": m.String()}, a)
	for range 200 {
		mustCreate(b, s, Collections, Record{"name": "other"}, a)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(Collections, c.UUID(), a); err != nil {
			b.Fatal(err)
		}
	}
}

// referencePDH is a slow, obvious portableDataHash by Go's rule (spec
// 4.4): split on spaces only (a token may hold a newline), cut every block
// token that a space follows, rejoin.
func referencePDH(m string) string {
	toks := strings.Split(m, " ")
	for j := 0; j < len(toks)-1; j++ {
		if isBlockToken(toks[j]) {
			if p := strings.IndexByte(toks[j][33:], '+'); p >= 0 {
				toks[j] = toks[j][:33+p]
			}
		}
	}
	p := strings.Join(toks, " ")
	return fmt.Sprintf("%x+%d", md5.Sum([]byte(p)), len(p))
}

func FuzzPortableDataHash(f *testing.F) {
	for _, s := range []string{
		"", "\n", " ", ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n",
		". acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@1+K@x 0:3:foo\n",
		"acbd18db4cc2f85cedef654fccc4a4d8+3+A ", ".cbd18db4cc2f85cedef654fccc4a4d8+3+A x",
		"acbd18db4cc2f85cedef654fccc4a4:8+3+A x", "acbd18db4cc2f85cedef654fccc4a4d8+3+A\n",
		"acbd18db4cc2f85cedef654fccc4a4d8++ x", "a  b\n\n c ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		if got, want := portableDataHash(m), referencePDH(m); got != want {
			t.Fatalf("pdh(%q) = %s, reference %s", m, got, want)
		}
	})
}

func FuzzPDHKey(f *testing.F) {
	for _, s := range []string{"", "1f4b0bc7583c2a7f9102c395f4ffc5e3+45", "1f4b0bc7583c2a7f9102c395f4ffc5e3+45+Ax@y", "1f4b0bc7583c2a7f9102c395f4ffc5e3+", "1f4b0bc7583c2a7f9102c395f4ffc5e3+4x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := pdhKey(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(s, k) || !signing.IsPDH(k) {
			t.Fatalf("pdhKey(%q) = %q", s, k)
		}
		if len(s) > len(k) && s[len(k)] != '+' {
			t.Fatalf("pdhKey(%q) = %q: not cut at a hint", s, k)
		}
	})
}

// isBlockToken is the reference rule of spec 4.4 (Go's): a token is a block
// token when it is at least 34 bytes, byte 32 is '+', its first 32 bytes
// hold no ':' and it does not start with '.'.
func isBlockToken(tok string) bool {
	return len(tok) >= 34 && tok[32] == '+' && tok[0] != '.' && strings.IndexByte(tok[:32], ':') < 0
}
