package bench

import (
	"crypto/md5"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
)

// BenchmarkFloor measures, in the same run as the side-by-side
// benchmarks, the physical limits the block figures are read against:
// crypto/md5 over a 64 MiB block on one core (every block byte is hashed
// once by keepfed) and on all cores at once, and a 64 MiB copy between two goroutines over a
// loopback TCP connection (every byte crosses loopback twice on the +R
// path: remote → keepfed → client). The SHA-1 floor of a signature is
// in BenchmarkSigning.
func BenchmarkFloor(b *testing.B) {
	data := make([]byte, blockSize)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	b.Run("md5-64MiB", func(b *testing.B) {
		b.SetBytes(blockSize)
		for b.Loop() {
			_ = md5.Sum(data)
		}
	})
	// The same on every core at once: what a second core really adds on
	// this machine now (the all-cores manifest figures are read against it).
	b.Run("md5-64MiB-allcores", func(b *testing.B) {
		procs := runtime.GOMAXPROCS(0)
		b.SetBytes(int64(procs) * blockSize)
		for b.Loop() {
			var wg sync.WaitGroup
			for range procs {
				wg.Add(1)
				go func() { defer wg.Done(); _ = md5.Sum(data) }()
			}
			wg.Wait()
		}
	})
	b.Run("loopback-64MiB", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		w, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		r, ok := <-accepted
		if !ok {
			b.Fatal("accept failed")
		}
		defer r.Close()
		const chunk = 256 << 10 // keepfed's stream buffer
		done := make(chan error)
		b.SetBytes(blockSize)
		for b.Loop() {
			go func() {
				buf := make([]byte, chunk)
				_, err := io.CopyBuffer(io.Discard, io.LimitReader(r, blockSize), buf)
				done <- err
			}()
			for p := data; len(p) > 0; p = p[chunk:] {
				if _, err := w.Write(p[:chunk]); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
}
