package manifest

import (
	"strings"
	"testing"
)

func TestPortableDataHashVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			for _, tc := range []struct{ name, in, want string }{
				{"manifest", c.Manifest, c.PDH},
				{"signed", c.Signed, c.PDHSigned},
				{"remote_rewritten", c.RemoteRewritten, c.PDHRemoteRewritten},
			} {
				if got := PortableDataHash([]byte(tc.in)); got != tc.want {
					t.Errorf("%s: PortableDataHash = %s, want %s", tc.name, got, tc.want)
				}
				par := newParallelism(1, 2)
				if got := string(par.appendPDH(nil, []byte(tc.in))); got != tc.want {
					t.Errorf("%s: parallel PortableDataHash = %s, want %s", tc.name, got, tc.want)
				}
			}
		})
	}
}

func TestPortableDataHashKnown(t *testing.T) {
	for in, want := range map[string]string{
		"": EmptyPDH,
		". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n": "1f4b0bc7583c2a7f9102c395f4ffc5e3+45",
	} {
		if got := PortableDataHash([]byte(in)); got != want {
			t.Errorf("PortableDataHash(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPortableDataHashLargeParallelMatchesSerial(t *testing.T) {
	m := genSmallFiles(300, 3, 20)
	signed := Sign(vectorRingOnly(t)).Rewrite(m)
	want := string(appendPDHSerial(nil, signed))
	for _, w := range []int{2, 3, 8} {
		got := string(newParallelism(1, w).appendPDH(nil, signed))
		if got != want {
			t.Fatalf("workers %d: %s, want %s", w, got, want)
		}
	}
	if got := string(appendPDHSerial(nil, m)); got != want {
		t.Errorf("signed and unsigned PDH differ: %s vs %s", got, want)
	}
	if !strings.HasSuffix(want, "+"+itoa(len(Strip(false).Rewrite(signed)))) {
		t.Errorf("PDH length part %s does not match the stripped length", want)
	}
}
