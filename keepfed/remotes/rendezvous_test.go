package remotes

import (
	"testing"

	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type rendezvousVectors struct {
	Cases []struct {
		ID         string            `json:"id"`
		Hash       string            `json:"hash"`
		Services   map[string]string `json:"services"`
		ProbeOrder []string          `json:"keepclient_probe_order"`
	} `json:"cases"`
	ServiceUUIDs []struct {
		ClusterID   string `json:"cluster_id"`
		InternalURL string `json:"internal_url"`
		Rendezvous  string `json:"rendezvous"`
		ServiceUUID string `json:"service_uuid"`
	} `json:"service_uuid_cases"`
}

func TestProbeOrderVectors(t *testing.T) {
	var v rendezvousVectors
	testvectors.Load(t, "rendezvous.json", &v)
	require.NotEmpty(t, v.Cases)
	for _, c := range v.Cases {
		byURL := map[string]string{}
		var svcs []KeepService
		for uuid, u := range c.Services {
			svcs = append(svcs, KeepService{UUID: uuid})
			byURL[uuid] = u
		}
		SortProbeOrder(c.Hash, svcs)
		got := make([]string, len(svcs))
		for i, s := range svcs {
			got[i] = byURL[s.UUID]
		}
		assert.Equal(t, c.ProbeOrder, got, c.ID)
	}
}

func TestKeepServiceUUIDVectors(t *testing.T) {
	var v rendezvousVectors
	testvectors.Load(t, "rendezvous.json", &v)
	require.NotEmpty(t, v.ServiceUUIDs)
	for _, c := range v.ServiceUUIDs {
		assert.Equal(t, c.ServiceUUID, KeepServiceUUID(c.ClusterID, c.Rendezvous, c.InternalURL), c.InternalURL)
	}
}

func BenchmarkSortProbeOrder(b *testing.B) {
	svcs := []KeepService{{UUID: "zzzzz-bi6l4-000000000000001"}, {UUID: "zzzzz-bi6l4-000000000000002"}, {UUID: "zzzzz-bi6l4-000000000000003"}}
	b.ReportAllocs()
	for b.Loop() {
		SortProbeOrder("acbd18db4cc2f85cedef654fccc4a4d8", svcs)
	}
}
