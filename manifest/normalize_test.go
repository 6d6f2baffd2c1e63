package manifest

import "testing"

func TestNormalizeVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			got, err := Normalize([]byte(c.Manifest))
			if c.Normalized == nil {
				if err == nil || err.Error() != c.NormalizeError {
					t.Fatalf("Normalize error = %v, want %q", err, c.NormalizeError)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if string(got) != *c.Normalized {
				t.Fatalf("Normalize:\n in   %q\n got  %q\n want %q", c.Manifest, got, *c.Normalized)
			}
			again, err := Normalize(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("Normalize is not idempotent: %q, %v", again, err)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	const loc = "acbd18db4cc2f85cedef654fccc4a4d8+3"
	for _, tc := range []struct{ in, want string }{
		{". " + loc + " 0:3:foo\n\n", "malformed manifest_text: line 2: no file segments"},
		{". " + loc + " 0:3:foo " + loc + "\n", `malformed manifest_text: line 1: bad file segment "acbd18db4cc2f85cedef654fccc4a4d8+3"`},
		{". " + loc + " 0:4:foo\n", `malformed manifest_text: line 1: invalid segment in 3-byte stream: "0:4:foo"`},
		{". " + loc + " 0:3:foo\n./foo " + loc + " 0:3:bar\n", `malformed manifest_text: line 2: cannot use name "bar" with length 3: file exists`},
		{". " + loc + " 0:3:../x\n", `malformed manifest_text: line 1: cannot use name "../x" with length 3: invalid argument`},
	} {
		_, err := Normalize([]byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Normalize(%q)\n got  %v\n want %s", tc.in, err, tc.want)
		}
	}
}

func TestNormalizeEmptyDirs(t *testing.T) {
	in := "./a/b d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n./c d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n"
	got, err := Normalize([]byte(in))
	if err != nil || string(got) != in {
		t.Errorf("Normalize = %q, %v; want %q", got, err, in)
	}
}
