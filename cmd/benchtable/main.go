// Command benchtable reads `go test -bench` output (with -count N) on
// stdin and prints keepfed's benchmark table: for every figure, the median
// over the N runs of keepfed and of its baseline, their ratio, the target
// and whether it is met. `make bench` (scripts/bench) feeds it.
//
// Medians are per benchmark and per unit, as benchstat computes them;
// ratios are taken between medians, except where a benchmark reports a
// ratio measured within one round (blocks, records): there the median of
// that ratio is used.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps benchmark name (without the -GOMAXPROCS suffix) and unit
// to the values of all runs.
type results map[string]map[string][]float64

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// med returns the median of name's unit, and whether there is one.
func (r results) med(name, unit string) (float64, bool) {
	v := slices.Clone(r[name][unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

func (r results) runs(name, unit string) int { return len(r[name][unit]) }

// row is one line of the table.
type row struct {
	section, figure   string
	baseline, keepfed string
	ratio             string
	target, status    string
}

type table struct {
	r    results
	rows []row
}

func num(v float64, unit string) string {
	switch {
	case v == 0:
		return "0 " + unit
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

// check formats ratio against a target ">=x" or "<=x".
func check(ratio float64, target string) string {
	if target == "" {
		return ""
	}
	want, _ := strconv.ParseFloat(target[2:], 64)
	if target[0] == '<' {
		if ratio <= want {
			return "met"
		}
		return fmt.Sprintf("MISSED: %.1f%% over", 100*(ratio/want-1))
	}
	if ratio >= want {
		return "met"
	}
	return fmt.Sprintf("MISSED: %.1f%% short", 100*(1-ratio/want))
}

// times formats a ratio.
func times(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.1f×", r)
	}
	return fmt.Sprintf("%.3g×", r)
}

// versus adds a row comparing baseline and keepfed on one unit; higher
// says whether larger values are better (MB/s, req/s) or worse (ns/op).
func (t *table) versus(section, figure, base, kf, unit string, higher bool, target string) (float64, bool) {
	b, ok1 := t.r.med(base, unit)
	k, ok2 := t.r.med(kf, unit)
	if !ok1 || !ok2 || b == 0 || k == 0 {
		t.rows = append(t.rows, row{section: section, figure: figure, status: "no data"})
		return 0, false
	}
	ratio := b / k
	if higher {
		ratio = k / b
	}
	t.rows = append(t.rows, row{section, figure, num(b, unit), num(k, unit), times(ratio), target, check(ratio, target)})
	return ratio, true
}

// reported adds a row for a ratio a benchmark measured itself; show is
// the unit displayed for both values.
func (t *table) reported(section, figure, name, unitB, unitK, unitRatio, show, target string) {
	b, _ := t.r.med(name, unitB)
	k, _ := t.r.med(name, unitK)
	ratio, ok := t.r.med(name, unitRatio)
	if !ok {
		t.rows = append(t.rows, row{section: section, figure: figure, status: "no data"})
		return
	}
	t.rows = append(t.rows, row{section, figure, num(b, show), num(k, show), times(ratio), target, check(ratio, target)})
}

// value adds a row for a single measured value.
func (t *table) value(section, figure, name, unit, show, note string) {
	v, ok := t.r.med(name, unit)
	if !ok {
		t.rows = append(t.rows, row{section: section, figure: figure, status: "no data"})
		return
	}
	t.rows = append(t.rows, row{section: section, figure: figure, keepfed: num(v, show), status: note})
}

func build(r results) *table {
	t := &table{r: r}

	// 1. signing
	const sg = "1 signing"
	for _, op := range []struct{ name, target string }{{"sign", ">=10"}, {"verify", ">=8"}, {"salt", ""}} {
		t.versus(sg, op.name, "Signing/"+op.name+"/baseline", "Signing/"+op.name+"/keepfed", "ns/op", false, op.target)
		if a, ok := r.med("Signing/"+op.name+"/keepfed", "allocs/op"); ok {
			st := "met"
			if a != 0 {
				st = "MISSED"
			}
			t.rows = append(t.rows, row{section: sg, figure: op.name + " allocs", keepfed: num(a, "allocs/op"), target: "0", status: st})
		}
	}
	if f, ok := r.med("Signing/floor/sha1-4-blocks", "ns/op"); ok {
		b, _ := r.med("Signing/sign/baseline", "ns/op")
		t.rows = append(t.rows, row{sg, "floor: 4 SHA-1 blocks (best possible sign ratio)", num(b, "ns/op"), num(f, "ns/op"), times(b / f), "", "physical ceiling"})
	}

	// 2. manifests
	const mf = "2 manifests"
	for _, m := range []struct{ bench, figure string }{
		{"ManifestSign", "sign"}, {"ManifestToRemote", "to-remote"},
		{"ManifestToRemoteLocalSign", "to-remote+local sign"}, {"ManifestStrip", "strip"},
	} {
		for _, in := range []struct{ name, target string }{{"i", ">=40"}, {"ii", ">=60"}} {
			base := m.bench + "/baseline/" + in.name
			one, ok1 := t.versus(mf, fmt.Sprintf("%s (%s) 1 core", m.figure, in.name), base, m.bench+"/keepfed/"+in.name, "ns/op", false, in.target)
			all, ok2 := t.versus(mf, fmt.Sprintf("%s (%s) all cores", m.figure, in.name), base, m.bench+"/keepfed-allcores/"+in.name, "ns/op", false, "")
			if ok1 && ok2 {
				sp := all / one
				t.rows = append(t.rows, row{mf, fmt.Sprintf("%s (%s) all cores / 1 core", m.figure, in.name), "", "", times(sp), ">=1.7", check(sp, ">=1.7")})
			}
		}
	}
	for _, in := range []string{"i", "ii"} {
		t.versus(mf, "pdh ("+in+") 1 core", "ManifestPDH/baseline/"+in, "ManifestPDH/keepfed/"+in, "ns/op", false, "")
	}
	t.versus(mf, "sign, keepfed as a whole process (200k locators)", "ManifestSignProcess/baseline", "ManifestSignProcess/keepfed-process", "ns/op", false, ">=30")

	// 3. blocks
	const bl = "3 blocks"
	for _, v := range []struct{ name, label string }{
		{"streams-1", "1 stream"}, {"streams-32", "32 streams"}, {"streams-32-crypto-md5", "32 streams, crypto/md5 only"},
	} {
		name := "FederatedBlock/" + v.name
		target := ">=0.85"
		if strings.Contains(v.name, "crypto") {
			target = ""
		}
		t.reported(bl, v.label+": +R via keepfed vs direct", name, "direct-MB/s", "via-MB/s", "ratio", "MB/s", target)
		h, ok1 := r.med(name, "home-cpu-s/GB")
		rm, ok2 := r.med(name, "remote-cpu-s/GB")
		if ok1 && ok2 {
			t.rows = append(t.rows, row{bl, v.label + ": CPU per GB, keepfed +R (home) vs remote serving direct", num(rm, "s/GB"), num(h, "s/GB"), times(h / rm), "", ""})
		}
		dp, ok3 := r.med(name, "direct-path-cpu-s/GB")
		vp, ok4 := r.med(name, "via-path-cpu-s/GB")
		if ok3 && ok4 && vp > 0 {
			t.rows = append(t.rows, row{bl, v.label + ": whole-path CPU per GB, via vs direct", num(dp, "s/GB"), num(vp, "s/GB"), times(vp / dp), "", fmt.Sprintf("ratio ceiling %.2f× if CPU-bound", dp/vp)})
		}
		t.value(bl, v.label+": keepfed (home) peak RSS", name, "home-peak-RSS-MiB", "MiB", "")
	}
	if s, ok1 := r.med("FederatedBlock/streams-32", "home-cpu-s/GB"); ok1 {
		if c, ok2 := r.med("FederatedBlock/streams-32-crypto-md5", "home-cpu-s/GB"); ok2 {
			t.rows = append(t.rows, row{bl, "32 streams: keepfed CPU per GB, default (md5-simd lanes) vs crypto/md5 only", num(c, "s/GB"), num(s, "s/GB"), times(s / c), "", ""})
		}
	}
	if v, ok1 := r.med("FederatedBlock/streams-1", "via-MB/s"); ok1 {
		if f, ok2 := r.med("Floor/md5-64MiB", "MB/s"); ok2 {
			t.rows = append(t.rows, row{bl, "1 stream +R vs crypto/md5 on one core", num(f, "MB/s"), num(v, "MB/s"), times(v / f), ">=0.9", check(v/f, ">=0.9")})
		}
	}

	// 4. md5 lanes
	const md = "4 md5"
	for _, n := range []string{"1", "4", "8", "16"} {
		target := ""
		if n == "16" {
			target = "<=0.4"
		}
		b, ok1 := r.med("MD5Lanes/crypto-md5/streams-"+n, "cpu-ns/MB")
		k, ok2 := r.med("MD5Lanes/md5-simd/streams-"+n, "cpu-ns/MB")
		if !ok1 || !ok2 {
			t.rows = append(t.rows, row{section: md, figure: n + " streams", status: "no data"})
			continue
		}
		t.rows = append(t.rows, row{md, n + " streams: CPU per MB, md5-simd vs crypto/md5", num(b/1e3, "µs/MB"), num(k/1e3, "µs/MB"), times(k / b), target, check(k/b, target)})
		if a, ok := r.med("MD5Lanes/auto/streams-"+n, "cpu-ns/MB"); ok {
			t.rows = append(t.rows, row{md, n + " streams: CPU per MB, keepfed's default (auto) vs crypto/md5", num(b/1e3, "µs/MB"), num(a/1e3, "µs/MB"), times(a / b), "", ""})
		}
	}

	// 5. records
	const rc = "5 records"
	t.reported(rc, "req/s, keepfed vs httputil.ReverseProxy", "RecordsProxy", "rproxy-req/s", "keepfed-req/s", "req/s-ratio", "req/s", ">=3.5")
	if b, ok := r.med("RecordsProxy", "rproxy-p50-µs"); ok {
		k, _ := r.med("RecordsProxy", "keepfed-p50-µs")
		t.rows = append(t.rows, row{rc, "p50 latency", num(b, "µs"), num(k, "µs"), times(k / b), "", ""})
	}
	t.reported(rc, "p99 latency", "RecordsProxy", "rproxy-p99-µs", "keepfed-p99-µs", "p99-ratio", "µs", "<=0.5")
	kc, ok1 := r.med("RecordsProxy", "keepfed-cpu-µs/req")
	rpc, ok2 := r.med("RecordsProxy", "rproxy-cpu-µs/req")
	kd, ok3 := r.med("RecordsProxy", "keepfed-path-driver-cpu-µs/req")
	rd, ok4 := r.med("RecordsProxy", "rproxy-path-driver-cpu-µs/req")
	if ok1 && ok2 && kc > 0 {
		t.rows = append(t.rows, row{rc, "proxy process CPU per request", num(rpc, "µs"), num(kc, "µs"), times(kc / rpc), "", ""})
	}
	if ok1 && ok2 && ok3 && ok4 && kc+kd > 0 {
		t.rows = append(t.rows,
			row{rc, "load driver + origin CPU per request, in each path", num(rd, "µs"), num(kd, "µs"), times(kd / rd), "", ""},
			row{rc, "whole-path CPU per request (bounds req/s on saturated CPUs)", num(rd+rpc, "µs"), num(kd+kc, "µs"), times((kd + kc) / (rd + rpc)), "", fmt.Sprintf("req/s ceiling %.2f×", (rd+rpc)/(kd+kc))})
	}

	// 6. remote block cache
	const ca = "6 remote block cache"
	t.reported(ca, "64 MiB +R: second read (from the cache) vs first read (from the remote)", "RemoteCache/reads", "first-ms", "second-ms", "second/first", "ms", "")
	t.reported(ca, "64 MiB: +R read from the cache vs local-volume read", "RemoteCache/reads", "local-ms", "second-ms", "second/local", "ms", "")
	if h, ok1 := r.med("RemoteCache/reads", "hit-cpu-s/GB"); ok1 {
		if l, ok2 := r.med("RemoteCache/reads", "local-cpu-s/GB"); ok2 && l > 0 {
			t.rows = append(t.rows, row{ca, "CPU per GB: cache hit vs local-volume read", num(l, "s/GB"), num(h, "s/GB"), times(h / l), "", ""})
		}
	}
	for _, n := range []string{"8", "32"} {
		name := "RemoteCache/cold-" + n
		t.value(ca, n+" readers of a cold block: remote GETs", name, "remote-GETs/op", "GETs", "one fetch shared")
		t.value(ca, n+" readers of a cold block: aggregate throughput", name, "MB/s", "MB/s", "")
		t.value(ca, n+" readers of a cold block: keepfed CPU per GB delivered", name, "home-cpu-s/GB", "s/GB", "")
	}

	// 7. floors
	const fl = "7 floors"
	t.value(fl, "crypto/md5, 64 MiB, one core", "Floor/md5-64MiB", "MB/s", "MB/s", "")
	if one, ok1 := r.med("Floor/md5-64MiB", "MB/s"); ok1 {
		if all, ok2 := r.med("Floor/md5-64MiB-allcores", "MB/s"); ok2 {
			t.rows = append(t.rows, row{fl, "crypto/md5 on all cores vs one: what the other cores add in this run", num(one, "MB/s"), num(all, "MB/s"), times(all / one), "", "ceiling for all-cores speed-ups"})
		}
	}
	t.value(fl, "loopback TCP copy, 64 MiB, two goroutines", "Floor/loopback-64MiB", "MB/s", "MB/s", "")
	t.value(fl, "SHA-1, 4 blocks (one signature)", "Signing/floor/sha1-4-blocks", "ns/op", "ns/op", "")
	return t
}

func (t *table) write(w io.Writer) {
	head := row{"", "figure", "baseline", "keepfed", "ratio", "target", "status"}
	cols := func(x row) []string {
		return []string{x.figure, x.baseline, x.keepfed, x.ratio, x.target, x.status}
	}
	width := make([]int, 6)
	for _, x := range append([]row{head}, t.rows...) {
		for i, c := range cols(x) {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(c []string) {
		fmt.Fprint(w, "|")
		for i, s := range c {
			fmt.Fprintf(w, " %s%s |", s, strings.Repeat(" ", width[i]-len([]rune(s))))
		}
		fmt.Fprintln(w)
	}
	section := ""
	for _, x := range t.rows {
		if x.section != section {
			section = x.section
			fmt.Fprintf(w, "\n**%s**\n\n", section)
			line(cols(head))
			sep := make([]string, 6)
			for i := range sep {
				sep[i] = strings.Repeat("-", width[i])
			}
			line(sep)
		}
		line(cols(x))
	}
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go test -bench ... -count N | benchtable")
		flag.PrintDefaults()
	}
	flag.Parse()
	r, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(r) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark lines on stdin")
		os.Exit(1)
	}
	n := 0
	for name := range r {
		for unit := range r[name] {
			n = max(n, r.runs(name, unit))
		}
	}
	fmt.Printf("Medians of up to %d runs per benchmark. Ratios: baseline time / keepfed time, or keepfed / baseline\n"+
		"throughput (higher is better); for latency, CPU and memory rows keepfed / baseline (lower is better).\n", n)
	build(r).write(os.Stdout)
}
