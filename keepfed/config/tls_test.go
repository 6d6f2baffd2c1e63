package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTLSSettings(t *testing.T) {
	base := "Clusters:\n  zzzzz:\n    KeepFed:\n      Listen: 127.0.0.1:9443\n      DataDir: /tmp/x\n"
	cfg, _, err := ParseConfig([]byte(base), "")
	require.NoError(t, err)
	assert.False(t, cfg.TLSEnabled())
	assert.Equal(t, "http://127.0.0.1:9443", cfg.KeepFed.ExternalURL)

	cfg, warnings, err := ParseConfig([]byte(base+"    TLS:\n      Certificate: /etc/c.pem\n      Key: file:///etc/k.pem\n      Insecure: false\n"), "")
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.True(t, cfg.TLSEnabled())
	assert.Equal(t, "https://127.0.0.1:9443", cfg.KeepFed.ExternalURL, "ExternalURL defaults to https with TLS")

	_, _, err = ParseConfig([]byte(base+"    TLS:\n      Certificate: /etc/c.pem\n"), "")
	assert.ErrorContains(t, err, "Certificate and Key must be set together")

	for in, want := range map[string]string{"/etc/k.pem": "/etc/k.pem", "file:///etc/k.pem": "/etc/k.pem", "k.pem": "k.pem"} {
		got, err := TLSFile(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"https://example.com/k.pem", "file://"} {
		_, err := TLSFile(bad)
		assert.Error(t, err, bad)
	}
}

func TestReadConfigFiles(t *testing.T) {
	dir := t.TempDir()
	arv := dir + "/config.yml"
	kf := dir + "/keepfed.yml"
	require.NoError(t, os.WriteFile(arv, []byte("Clusters:\n  zzzzz:\n    SystemRootToken: root\n    Collections:\n      BlobSigningKey: k\n      DefaultReplication: 3\n    RemoteClusters:\n      yyyyy: {Host: y.example}\n"), 0o600))
	require.NoError(t, os.WriteFile(kf, []byte("Clusters:\n  zzzzz:\n    Collections:\n      DefaultReplication: 2\n    KeepFed:\n      DataDir: /srv/keepfed\n      Listen: 127.0.0.1:9444\n"), 0o600))
	cfg, warnings, err := LoadConfigFiles([]string{arv, kf}, "")
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, "root", cfg.SystemRootToken, "kept from the first file")
	assert.Equal(t, "k", cfg.Collections.BlobSigningKey)
	assert.Equal(t, 2, cfg.Collections.DefaultReplication, "the later file wins")
	assert.Equal(t, "/srv/keepfed", cfg.KeepFed.DataDir)
	assert.Equal(t, "y.example", cfg.RemoteClusters["yyyyy"].Host)
	_, _, err = LoadConfigFiles([]string{arv, dir + "/missing.yml"}, "")
	assert.Error(t, err)
}
