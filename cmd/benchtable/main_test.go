package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkSigning/sign/baseline-2   	  175706	      2000 ns/op	     840 B/op	      19 allocs/op
BenchmarkSigning/sign/baseline-2   	  175706	      1000 ns/op	     840 B/op	      19 allocs/op
BenchmarkSigning/sign/baseline-2   	  175706	      3000 ns/op	     840 B/op	      19 allocs/op
BenchmarkSigning/sign/keepfed-2    	 1000000	       200 ns/op	       0 B/op	       0 allocs/op
BenchmarkSigning/sign/keepfed-2    	 1000000	       100 ns/op	       0 B/op	       0 allocs/op
BenchmarkRecordsProxy-2   	   30000	      1567 keepfed-p50-µs	     23557 keepfed-p99-µs	      9311 keepfed-req/s	         0.7189 p99-ratio
PASS
`

func TestParseMedians(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"Signing/sign/baseline", "ns/op", 2000},
		{"Signing/sign/keepfed", "ns/op", 150},
		{"Signing/sign/keepfed", "allocs/op", 0},
		{"RecordsProxy", "p99-ratio", 0.7189},
		{"RecordsProxy", "keepfed-p50-µs", 1567},
	} {
		if got, ok := r.med(c.name, c.unit); !ok || got != c.want {
			t.Errorf("%s %s: got %v %v, want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if _, ok := r.med("Signing/verify/keepfed", "ns/op"); ok {
		t.Error("median of a missing benchmark")
	}
}

func TestTable(t *testing.T) {
	r, _ := parse(strings.NewReader(sample))
	var out bytes.Buffer
	build(r).write(&out)
	s := out.String()
	for _, want := range []string{"| sign ", "13.3×", "MISSED", "**5 records**", "0.719×", "no data"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}
