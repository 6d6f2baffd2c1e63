package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenTimeoutLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.db")
	s, err := OpenTimeout(path, "zzzzz", time.Second)
	require.NoError(t, err)
	start := time.Now()
	_, err = OpenTimeout(path, "zzzzz", 50*time.Millisecond)
	require.Error(t, err)
	assert.True(t, IsLocked(err), err)
	assert.Less(t, time.Since(start), 2*time.Second)
	require.NoError(t, s.Close())
	s, err = OpenTimeout(path, "zzzzz", 50*time.Millisecond)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.False(t, IsLocked(nil))
}
