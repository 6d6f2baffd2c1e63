package config

import (
	"testing"
)

// FuzzParseConfig: any config file is parsed or refused, never a panic;
// one that parses validates or is refused, never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("Clusters:\n  zzzzz:\n    SystemRootToken: x\n    KeepFed:\n      DataDir: /tmp/x\n"), "zzzzz")
	f.Add([]byte("Clusters:\n  zzzzz:\n    API:\n      RequestTimeout: 1s\n    Collections:\n      BlobSigningTTL: 1209600000000000\n    RemoteClusters:\n      '*': {Proxy: true}\n      xxxxx: {Host: h, Scheme: ftp}\n"), "")
	f.Add([]byte("Clusters: [1,2]"), "")
	f.Add([]byte("Clusters:\n  ZZ:\n    KeepFed: {Listen: ':x'}\n"), "ZZ")
	f.Add([]byte("a: &a [*a]"), "")
	f.Fuzz(func(t *testing.T, data []byte, id string) {
		cfg, _, err := ParseConfig(data, id)
		if err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.KeyRing()
	})
}
