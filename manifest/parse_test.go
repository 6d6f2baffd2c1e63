package manifest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCheckVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			err := Check([]byte(c.Manifest))
			if wantErr := c.NormalizeError != ""; (err != nil) != wantErr {
				t.Fatalf("Check(%q) = %v, want error: %v", c.Manifest, err, wantErr)
			}
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Line != 1 {
					t.Errorf("error %v: want a *SyntaxError on line 1", err)
				}
				return
			}
			for name, m := range map[string]string{"signed": c.Signed, "stripped": c.Stripped,
				"remote_rewritten": c.RemoteRewritten, "normalized": *c.Normalized} {
				if err := Check([]byte(m)); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			streams, err := Parse([]byte(c.Manifest))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(c.Manifest, "\n"); len(streams) != got {
				t.Errorf("Parse: %d streams, want %d", len(streams), got)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	const loc = "acbd18db4cc2f85cedef654fccc4a4d8+3"
	for _, tc := range []struct{ in, want string }{
		{". " + loc + " 0:3:foo", `line 1: no newline at end of manifest`},
		{". " + loc + " 0:3:foo\n\n", `line 2: empty line`},
		{". " + loc + " 0:3:foo\n. " + loc + " 0:3:a xyz\n", `line 2, token 4 "xyz": bad file token: locator after file tokens`},
		{". " + loc + "  0:3:foo\n", `line 1, token 3 "": empty token (a leading, trailing or double space)`},
		{". " + loc + " 0:3:foo \n", `line 1, token 4 "": empty token (a leading, trailing or double space)`},
		{"foo " + loc + " 0:3:foo\n", `line 1, token 1 "foo": bad stream name: must be "." or start with "./"`},
		{"./a/../b " + loc + " 0:3:foo\n", `line 1, token 1 "./a/../b": bad stream name: "." or ".." path component`},
		{"./a//b " + loc + " 0:3:foo\n", `line 1, token 1 "./a//b": bad stream name: empty path component`},
		{". acbd18db4cc2f85cedef654fccc4a4d8 0:3:foo\n", `line 1, token 2 "acbd18db4cc2f85cedef654fccc4a4d8": bad locator: no size hint after the hash`},
		{". " + loc + "+a 0:3:foo\n", `line 1, token 2 "acbd18db4cc2f85cedef654fccc4a4d8+3+a": bad locator: hint does not start with an uppercase letter`},
		{". " + loc + "+K* 0:3:foo\n", `line 1, token 2 "acbd18db4cc2f85cedef654fccc4a4d8+3+K*": bad locator: hint has a byte other than A-Z a-z 0-9 @ _ -`},
		{". " + loc + "+3 0:3:foo\n", `line 1, token 2 "acbd18db4cc2f85cedef654fccc4a4d8+3+3": bad locator: hint does not start with an uppercase letter`},
		{". 0:3:foo " + loc + "\n", `line 1, token 2 "0:3:foo": file token before any locator`},
		{". " + loc + "\n", `line 1: no file tokens`},
		{". " + loc + " 1:3:foo\n", `line 1, token 3 "1:3:foo": bad file token: range 1+3 is past the end of the stream's 3 bytes`},
		{". " + loc + " 0:3:a//b\n", `line 1, token 3 "0:3:a//b": bad file token: bad file name: empty path component`},
		{". " + loc + " 0:3:.\n", `line 1, token 3 "0:3:.": bad file token: bad file name: "." or ".." path component`},
		{". " + loc + " 0:3:a\\9xx\n", `line 1, token 3 "0:3:a\\9xx": bad file token: bad file name: backslash not followed by an octal escape \000 to \377`},
		{". " + loc + " 0:3:a\\40\n", `line 1, token 3 "0:3:a\\40": bad file token: bad file name: backslash not followed by an octal escape \000 to \377`},
		{". " + loc + " 0:3:a\tb\n", `line 1, token 3 "0:3:a\tb": bad file token: bad file name: raw space or control character (must be escaped)`},
		{". " + loc + " x:3:a\n", `line 1, token 3 "x:3:a": bad file token: want position:size:name with decimal position`},
		{". " + loc + " 0:99999999999999999999:a\n", `line 1, token 3 "0:99999999999999999999:a": bad file token: want position:size:name with decimal size`},
	} {
		err := Check([]byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Check(%q)\n got  %v\n want %s", tc.in, err, tc.want)
		}
	}
}

func TestCheckValid(t *testing.T) {
	for _, in := range []string{
		"",
		"./emptydir d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n",
		". ACBD18DB4CC2F85CEDEF654FCCC4A4D8+3+K@xyzzy+Afoo@1 0:3:a\\040b 0:3:c/d/...x\n",
	} {
		if err := Check([]byte(in)); err != nil {
			t.Errorf("Check(%q): %v", in, err)
		}
	}
}

func TestParse(t *testing.T) {
	in := ". acbd18db4cc2f85cedef654fccc4a4d8+3 37b51d194a7513e45b56f6524f2d51f2+3 0:3:foo 3:3:dir/b\\040r\n./sub\\040dir d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n"
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Stream{
		{Name: ".", Locators: []string{"acbd18db4cc2f85cedef654fccc4a4d8+3", "37b51d194a7513e45b56f6524f2d51f2+3"},
			Files: []File{{0, 3, "foo"}, {3, 3, "dir/b r"}}},
		{Name: "./sub dir", Locators: []string{"d41d8cd98f00b204e9800998ecf8427e+0"}, Files: []File{{0, 0, "."}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got  %+v\n want %+v", got, want)
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	m := genSmallFiles(10, 3, 10)
	if err := Check(m); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(20, func() { _ = Check(m) }); n != 0 {
		t.Errorf("Check: %v allocations, want 0", n)
	}
}
