package metrics

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMetricsBoundedLabels(t *testing.T) {
	m := NewMetrics()
	for i := 0; i < 3*maxRemoteLabels; i++ {
		m.RemoteError("c"+strconv.Itoa(10000+i), ErrClassTimeout)
	}
	out := string(m.AppendText(nil))
	assert.LessOrEqual(t, strings.Count(out, "keepfed_remote_errors_total{"), maxRemoteLabels+1)
	assert.Contains(t, out, `cluster="_other"`)
}
