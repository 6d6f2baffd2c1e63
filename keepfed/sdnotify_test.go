package keepfed

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenNotify starts a unixgram listener standing in for systemd.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestSdNotifySocket(t *testing.T) {
	cases := []struct {
		name   string
		socket func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify.sock") }},
		{"abstract", func(t *testing.T) string {
			return fmt.Sprintf("@keepfed-test-%d-%d", os.Getpid(), time.Now().UnixNano())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			socket := tc.socket(t)
			ln := listenNotify(t, socket)
			sent, err := SdNotifySocket(socket, "READY=1")
			require.NoError(t, err)
			assert.True(t, sent)
			require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
			buf := make([]byte, 64)
			n, err := ln.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, "READY=1", string(buf[:n]))
		})
	}
}

func TestSdNotifyEnv(t *testing.T) {
	t.Setenv(NotifySocketEnv, "")
	sent, err := SdNotify("READY=1")
	assert.NoError(t, err)
	assert.False(t, sent, "no-op without $NOTIFY_SOCKET")

	socket := filepath.Join(t.TempDir(), "notify.sock")
	ln := listenNotify(t, socket)
	t.Setenv(NotifySocketEnv, socket)
	sent, err = SdNotify("READY=1")
	require.NoError(t, err)
	assert.True(t, sent)
	require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	n, err := ln.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "READY=1", string(buf[:n]))
}

func TestSdNotifyErrors(t *testing.T) {
	cases := []struct{ name, socket string }{
		{"relative path", "notify.sock"},
		{"nobody listening", filepath.Join(t.TempDir(), "missing.sock")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent, err := SdNotifySocket(tc.socket, "READY=1")
			assert.Error(t, err)
			assert.False(t, sent)
		})
	}
}
