package manifest

import "testing"

func TestEscapeVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.EscapeCases {
		if got := Escape(c.Raw); got != c.Escaped {
			t.Errorf("Escape(%q) = %q, want %q", c.Raw, got, c.Escaped)
		}
		if got := Unescape(c.Escaped); got != c.Raw {
			t.Errorf("Unescape(Escape(%q)) = %q", c.Raw, got)
		}
	}
	for _, c := range v.UnescapeCases {
		if got := Unescape(c.Escaped); got != c.Unescaped {
			t.Errorf("Unescape(%q) = %q, want %q", c.Escaped, got, c.Unescaped)
		}
	}
}

func TestEscapeAllBytes(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := string([]byte{'x', byte(c), 'y'})
		if got := Unescape(Escape(s)); got != s {
			t.Errorf("byte %#x: round trip gave %q", c, got)
		}
	}
}

func TestEscapeNoAllocWhenClean(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Escape("plain-name.txt"); _ = Unescape("plain") }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
