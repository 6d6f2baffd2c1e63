package manifest

import (
	"bytes"
	"testing"
)

func TestBatchSigningMatchesScalar(t *testing.T) {
	if !haveSHA1x16 {
		t.Skip("no AVX-512")
	}
	v := loadVectors(t)
	ring, token, expiry, remote := vectorRing(t)
	batch := Sign(ring, token, expiry)
	if batch.batch == nil {
		t.Fatal("a signing Rewriter did not enable batch signing on an AVX-512 CPU")
	}
	sign := batch.WithoutBatch()
	toBatch := ToRemoteSigned(remote, ring, token, expiry)
	toSigned := toBatch.WithoutBatch()
	inputs := []string{string(genSmallFiles(40, 3, 5)), string(genOneStream(100)),
		" 0123456789abcdef0123456789abcdef0123+3 0123456789abcdef0123456789abcdef+3+Ax\tfoo+Abar\n"}
	for _, c := range v.Cases {
		inputs = append(inputs, c.Manifest, c.Signed)
		if got := string(batch.Rewrite([]byte(c.Manifest))); got != c.Signed {
			t.Errorf("%s: batch sign:\n got  %q\n want %q", c.ID, got, c.Signed)
		}
	}
	for _, in := range inputs {
		if got, want := batch.AppendSerial(nil, []byte(in)), sign.AppendSerial(nil, []byte(in)); !bytes.Equal(got, want) {
			t.Errorf("batch sign of %q:\n got  %q\n want %q", in, got, want)
		}
		if got, want := toBatch.AppendSerial(nil, []byte(in)), toSigned.AppendSerial(nil, []byte(in)); !bytes.Equal(got, want) {
			t.Errorf("batch to-remote-signed of %q:\n got  %q\n want %q", in, got, want)
		}
	}
}
