package remotes

import (
	"bytes"
	"crypto/md5"
	"sort"
)

// probeWeight is md5(hash32 + uuid[12:]) (the whole uuid when it is not 27
// characters), the rendezvous weight Arvados's Keep client sorts by.
// Comparing the raw digests orders them like their lowercase hex.
func probeWeight(hash, uuid string) [md5.Size]byte {
	if len(uuid) == 27 {
		uuid = uuid[12:]
	}
	var buf [32 + 27]byte
	b := append(buf[:0], hash[:min(len(hash), 32)]...)
	if len(uuid) <= cap(buf)-len(b) {
		b = append(b, uuid...)
		return md5.Sum(b)
	}
	return md5.Sum([]byte(hash[:min(len(hash), 32)] + uuid))
}

// SortProbeOrder sorts services into the order Arvados's Keep client tries
// them for the block hash (spec 5.1): weight descending. Only the first 32
// characters of hash are used.
func SortProbeOrder(hash string, services []KeepService) {
	type weighted struct {
		w [md5.Size]byte
		s KeepService
	}
	ws := make([]weighted, len(services))
	for i, s := range services {
		ws[i] = weighted{probeWeight(hash, s.UUID), s}
	}
	sort.SliceStable(ws, func(i, j int) bool { return bytes.Compare(ws[i].w[:], ws[j].w[:]) > 0 })
	for i := range ws {
		services[i] = ws[i].s
	}
}
