package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keepfed/keepfed/internal/testvectors"
)

type manifestVectors struct {
	Cases []struct {
		ID                 string  `json:"id"`
		Manifest           string  `json:"manifest"`
		Normalized         *string `json:"normalized"`
		NormalizeError     string  `json:"normalize_error"`
		PDH                string  `json:"pdh"`
		Signed             string  `json:"signed"`
		Stripped           string  `json:"stripped"`
		RemoteRewritten    string  `json:"remote_rewritten"`
		RemoteRewrittenIn  string  `json:"remote_rewritten_input"`
		PDHRemoteRewritten string  `json:"pdh_remote_rewritten"`
	} `json:"cases"`
	Description struct {
		Fixed struct {
			ExpiryUnix int64  `json:"expiry_unix"`
			Key        string `json:"key"`
			Remote     string `json:"remote_cluster_id"`
			Token      string `json:"token"`
			TTLSeconds int64  `json:"ttl_seconds"`
		} `json:"fixed_parameters"`
	} `json:"description"`
}

func loadManifestVectors(t *testing.T) *manifestVectors {
	t.Helper()
	var v manifestVectors
	testvectors.Load(t, "manifests.json", &v)
	return &v
}

// runManifestCLI runs "keepfed args..." in-process with stdin in.
func runManifestCLI(in string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, stdio{in: strings.NewReader(in), out: &out, err: &errb, getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func TestManifestCLIVectors(t *testing.T) {
	v := loadManifestVectors(t)
	fx := v.Description.Fixed
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(fx.Key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFlags := []string{"-key-file", keyFile, "-ttl", strconv.FormatInt(fx.TTLSeconds, 10) + "s", "-expiry", strconv.FormatInt(fx.ExpiryUnix, 10)}
	env := map[string]string{"ARVADOS_API_TOKEN": fx.Token}
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				in, want string
				args     []string
			}{
				{"sign", c.Manifest, c.Signed, append([]string{"manifest", "sign", "-token", fx.Token}, keyFlags...)},
				{"sign-env-token", c.Manifest, c.Signed, append([]string{"manifest", "sign"}, keyFlags...)},
				{"strip", c.Signed, c.Stripped, []string{"manifest", "strip"}},
				{"to-remote", c.Signed, c.RemoteRewritten, []string{"manifest", "to-remote", "-remote", fx.Remote}},
				{"to-remote-input", c.Manifest, c.RemoteRewrittenIn, []string{"manifest", "to-remote", "-remote", fx.Remote}},
				{"pdh", c.Manifest, c.PDH + "\n", []string{"manifest", "pdh"}},
				{"pdh-remote", c.RemoteRewritten, c.PDHRemoteRewritten + "\n", []string{"manifest", "pdh"}},
			} {
				code, out, errOut := runManifestCLI(tc.in, env, tc.args...)
				if code != 0 || out != tc.want {
					t.Errorf("%s: exit %d, stderr %q\n got  %q\n want %q", tc.name, code, errOut, out, tc.want)
				}
			}
			if !strings.Contains(c.Signed, "+R"+fx.Remote+"-") {
				code, out, _ := runManifestCLI(c.RemoteRewritten, nil, "manifest", "from-remote", "-remote", fx.Remote)
				if code != 0 || out != c.Signed {
					t.Errorf("from-remote: exit %d\n got  %q\n want %q", code, out, c.Signed)
				}
				args := append([]string{"manifest", "to-remote", "-remote", fx.Remote, "-local-sign"}, keyFlags...)
				code, local, _ := runManifestCLI(c.Signed, env, args...)
				if code != 0 {
					t.Fatalf("to-remote -local-sign: exit %d", code)
				}
				code, out, _ = runManifestCLI(local, nil, "manifest", "from-remote", "-remote", fx.Remote)
				if code != 0 || out != c.Signed {
					t.Errorf("from-remote(to-remote -local-sign): exit %d\n got  %q\n want %q", code, out, c.Signed)
				}
			}
			code, out, errOut := runManifestCLI(c.Manifest, nil, "manifest", "normalize")
			if c.Normalized == nil {
				if code != 1 || !strings.Contains(errOut, c.NormalizeError) {
					t.Errorf("normalize: exit %d, stderr %q, want 1 and %q", code, errOut, c.NormalizeError)
				}
			} else if code != 0 || out != *c.Normalized {
				t.Errorf("normalize: exit %d, %q, want %q", code, out, *c.Normalized)
			}
			code, _, errOut = runManifestCLI(c.Manifest, nil, "manifest", "check")
			if want := map[bool]int{true: 1, false: 0}[c.NormalizeError != ""]; code != want {
				t.Errorf("check: exit %d (stderr %q), want %d", code, errOut, want)
			}
		})
	}
}

func TestManifestCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"manifest"}, 2, "Usage: keepfed manifest"},
		{[]string{"manifest", "bogus"}, 2, `unknown subcommand "bogus"`},
		{[]string{"manifest", "to-remote"}, 2, "-remote is required"},
		{[]string{"manifest", "to-remote", "-remote", "TOOLONG"}, 2, "not a cluster id"},
		{[]string{"manifest", "from-remote"}, 2, "-remote is required"},
		{[]string{"manifest", "to-remote", "-remote", "zzzzz", "-local-sign"}, 2, "a key is required"},
		{[]string{"manifest", "sign"}, 2, "a key is required"},
		{[]string{"manifest", "strip", "extra"}, 2, "unexpected argument"},
		{[]string{"manifest", "pdh", "-nosuchflag"}, 2, "flag provided but not defined"},
		{[]string{"manifest", "check", "-h"}, 0, "Usage: keepfed manifest check"},
	} {
		code, _, errOut := runManifestCLI("", nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.err)
		}
	}
}

func TestManifestCLIStripRemoteHints(t *testing.T) {
	in := ". cb7813a4037ab312aa7c45f823f31c07+3+R3bo3b-548b35b7029d09a561383427ef3bdbeb6428552c@f3ee8262+Aabc@1 0:3:r\n"
	code, out, _ := runManifestCLI(in, nil, "manifest", "strip", "-remote-hints")
	if want := ". cb7813a4037ab312aa7c45f823f31c07+3 0:3:r\n"; code != 0 || out != want {
		t.Errorf("strip -remote-hints: exit %d, %q, want %q", code, out, want)
	}
}

func TestManifestCLICheckError(t *testing.T) {
	code, _, errOut := runManifestCLI(". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n. x 0:0:y\n", nil, "manifest", "check")
	want := `keepfed manifest check: line 2, token 2 "x": bad locator: shorter than 32 hex digits and a size` + "\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, errOut, want)
	}
}
