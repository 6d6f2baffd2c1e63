package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keepfed/keepfed/internal/manifestgen"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

// BenchmarkManifestSignProcess: "keepfed manifest sign" as a whole
// process (exec, stdin, stdout) on an 18.6 MB manifest of 200,000 signed
// locators, against the straightforward baseline signing the same
// manifest in process. The whole process pays start-up, reading stdin and
// writing stdout on top of the rewrite.
func BenchmarkManifestSignProcess(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "keepfed")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/keepfed").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	other := manifest.Sign(signing.NewKeyRing(sigTTL, []byte("remote-key")), "v2/zzzzz-gj3su-000000000000000/secret", sigExpiry.Unix())
	m := other.Rewrite(manifestgen.OneStream(200000))
	in := filepath.Join(dir, "m.txt")
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(in, m, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(sigKey), 0o600); err != nil {
		b.Fatal(err)
	}
	want := BaselineSignManifest(string(m), []byte(sigKey), sigToken, sigExpiry, sigTTL)
	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(int64(len(m)))
		for b.Loop() {
			_ = BaselineSignManifest(string(m), []byte(sigKey), sigToken, sigExpiry, sigTTL)
		}
	})
	b.Run("keepfed-process", func(b *testing.B) {
		b.SetBytes(int64(len(m)))
		var out bytes.Buffer
		for b.Loop() {
			f, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			out.Reset()
			cmd := exec.CommandContext(ctx, bin, "manifest", "sign", "-key-file", key, "-token", sigToken,
				"-ttl", sigTTL.String(), "-expiry", strconv.FormatInt(sigExpiry.Unix(), 10))
			cmd.Stdin, cmd.Stdout = f, &out
			err = cmd.Run()
			f.Close()
			if err != nil {
				b.Fatalf("keepfed manifest sign: %v", err)
			}
		}
		if out.String() != want {
			b.Fatal("keepfed manifest sign and the baseline disagree")
		}
	})
}
