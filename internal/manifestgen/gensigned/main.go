// Command gensigned writes benchmark manifest (i) (manifestgen.OneStream)
// with n locators, each signed by a throwaway key: the input of
// scripts/manifest-sign-runs. n = 200000 gives an 18.6 MB manifest.
package main

import (
	"flag"
	"os"
	"time"

	"github.com/keepfed/keepfed/internal/manifestgen"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

func main() {
	n := flag.Int("n", 200000, "number of block locators")
	flag.Parse()
	ring := signing.NewKeyRing(time.Hour, []byte("remote-key"))
	signed := manifest.Sign(ring, "v2/zzzzz-gj3su-000000000000000/secret", time.Now().Add(time.Hour).Unix())
	if _, err := os.Stdout.Write(signed.Rewrite(manifestgen.OneStream(*n))); err != nil {
		os.Exit(1)
	}
}
