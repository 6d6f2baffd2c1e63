package manifest

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/keepfed/keepfed/signing"
)

// vectorCase is one entry of testdata/vectors/manifests.json "cases".
type vectorCase struct {
	ID                   string  `json:"id"`
	Manifest             string  `json:"manifest"`
	Normalized           *string `json:"normalized"`
	NormalizeError       string  `json:"normalize_error"`
	PDH                  string  `json:"pdh"`
	PDHSigned            string  `json:"pdh_signed"`
	PDHRemoteRewritten   string  `json:"pdh_remote_rewritten"`
	Signed               string  `json:"signed"`
	Stripped             string  `json:"stripped"`
	RemoteRewritten      string  `json:"remote_rewritten"`
	RemoteRewrittenInput string  `json:"remote_rewritten_input"`
}

type vectorFile struct {
	Cases       []vectorCase `json:"cases"`
	Description struct {
		Fixed struct {
			ExpiryUnix int64  `json:"expiry_unix"`
			Key        string `json:"key"`
			Remote     string `json:"remote_cluster_id"`
			Token      string `json:"token"`
			TTLSeconds int64  `json:"ttl_seconds"`
		} `json:"fixed_parameters"`
	} `json:"description"`
	EscapeCases []struct {
		Raw     string `json:"raw"`
		Escaped string `json:"escaped"`
	} `json:"escape_cases"`
	UnescapeCases []struct {
		Escaped   string `json:"escaped"`
		Unescaped string `json:"unescaped"`
	} `json:"unescape_cases"`
}

var (
	vectorsOnce sync.Once
	vectorsData vectorFile
	vectorsErr  error
)

// loadVectors reads the shared manifest vectors once.
func loadVectors(tb testing.TB) *vectorFile {
	tb.Helper()
	vectorsOnce.Do(func() {
		b, err := os.ReadFile(testvectors.Path("manifests.json"))
		if err != nil {
			vectorsErr = err
			return
		}
		vectorsErr = json.Unmarshal(b, &vectorsData)
	})
	if vectorsErr != nil {
		tb.Fatalf("loading manifest vectors: %v", vectorsErr)
	}
	return &vectorsData
}

// vectorRing returns the key ring, token and expiry of the vectors.
func vectorRing(tb testing.TB) (*signing.KeyRing, string, int64, string) {
	v := loadVectors(tb)
	f := v.Description.Fixed
	ring := signing.NewKeyRing(time.Duration(f.TTLSeconds)*time.Second, []byte(f.Key))
	return ring, f.Token, f.ExpiryUnix, f.Remote
}
