package selfsigned

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	certPath, keyPath, cert, err := Write(t.TempDir()+"/tls", "zzzzz")
	require.NoError(t, err)
	_, err = tls.LoadX509KeyPair(certPath, keyPath)
	require.NoError(t, err, "the files are a matching PEM pair")
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
		assert.NoError(t, err, host)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"})
	assert.Error(t, err, "only loopback names")
}
