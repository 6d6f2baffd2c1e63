package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

func init() {
	register("manifest", "check, hash, normalize, sign, strip or rewrite a manifest (stdin to stdout)", runManifest)
}

var manifestSubs = map[string]command{
	"check":       {"exit 0 if the manifest is valid, else print what is wrong and exit 1", runManifestCheck},
	"pdh":         {"print the portable data hash", runManifestPDH},
	"normalize":   {"print the Go SDK normal form", runManifestNormalize},
	"strip":       {"remove +A hints (and +R hints with -remote-hints)", runManifestStrip},
	"sign":        {"replace +A hints with fresh signatures", runManifestSign},
	"to-remote":   {"turn +A into +R<remote>- hints (as a controller does for a remote manifest)", runManifestToRemote},
	"from-remote": {"turn +R<remote>- hints back into +A, dropping local +A", runManifestFromRemote},
}

var manifestMenu = menu{
	prog: "keepfed manifest",
	head: "Usage: keepfed manifest <subcommand> [flags] < MANIFEST\n\nSubcommands (read stdin, write stdout):\n",
	tail: "\nRun \"keepfed manifest <subcommand> -h\" for its flags.\n",
	what: "subcommand",
}

func runManifest(args []string, sio stdio) int {
	return dispatch(manifestMenu, manifestSubs, args, sio)
}

// manifestFlags parses the flags of subcommand name; it returns the exit
// code and false when the command should stop.
func manifestFlags(fs *flag.FlagSet, args []string, usage string, sio stdio) (int, bool) {
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "Usage: keepfed manifest "+usage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(sio.err, "keepfed manifest: unexpected argument %q (the manifest is read from stdin)\n", fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// readManifest reads all of stdin, in one buffer of the right size when
// stdin is a regular file.
//
// The buffer is made with make, never grown by append or bytes.Buffer: a
// slice grown by append has its new capacity cleared by one
// non-preemptible memclr, which for a manifest of tens of MB (page faults
// on fresh memory included) runs for 100+ ms. A garbage collection that
// starts meanwhile cannot stop this goroutine to scan its stack, and its
// worker spins sending preemption signals (each one interrupting the
// page faults again) until the memclr ends: that was most of the time and
// the system time of "keepfed manifest sign" on an 18 MB manifest.
// Large allocations by make are zeroed in preemptible chunks (or not at
// all when the memory is fresh from the OS).
func readManifest(sio stdio) ([]byte, error) {
	if sio.in == nil {
		return nil, nil
	}
	hint := 64 << 10
	if f, ok := sio.in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() < 1<<40 {
			hint = int(st.Size()) + 1 // +1: EOF is seen without growing
		}
	}
	b, err := readAllMade(sio.in, hint)
	if err != nil {
		return nil, fmt.Errorf("reading manifest from stdin: %w", err)
	}
	return b, nil
}

// readAllMade reads r to its end into a buffer of hint bytes, doubling it
// (make and copy) when it fills.
func readAllMade(r io.Reader, hint int) ([]byte, error) {
	b := make([]byte, 0, max(hint, 512))
	for {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), 2*cap(b))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// writeOut writes b to stdout.
func writeOut(sio stdio, name string, b []byte) int {
	if _, err := sio.out.Write(b); err != nil {
		return fail(sio, name, fmt.Errorf("writing output: %w", err))
	}
	return 0
}

func runManifestCheck(args []string, sio stdio) int {
	const name = "manifest check"
	fs := newFlagSet(name, sio.err)
	if code, ok := manifestFlags(fs, args, "check < MANIFEST", sio); !ok {
		return code
	}
	m, err := readManifest(sio)
	if err != nil {
		return fail(sio, name, err)
	}
	if err := manifest.Check(m); err != nil {
		return fail(sio, name, err)
	}
	return 0
}

func runManifestPDH(args []string, sio stdio) int {
	const name = "manifest pdh"
	fs := newFlagSet(name, sio.err)
	if code, ok := manifestFlags(fs, args, "pdh < MANIFEST", sio); !ok {
		return code
	}
	m, err := readManifest(sio)
	if err != nil {
		return fail(sio, name, err)
	}
	out := manifest.AppendPortableDataHash(make([]byte, 0, 64), m)
	return writeOut(sio, name, append(out, '\n'))
}

func runManifestNormalize(args []string, sio stdio) int {
	const name = "manifest normalize"
	fs := newFlagSet(name, sio.err)
	if code, ok := manifestFlags(fs, args, "normalize < MANIFEST", sio); !ok {
		return code
	}
	m, err := readManifest(sio)
	if err != nil {
		return fail(sio, name, err)
	}
	out, err := manifest.Normalize(m)
	if err != nil {
		return fail(sio, name, err)
	}
	return writeOut(sio, name, out)
}

func runManifestStrip(args []string, sio stdio) int {
	const name = "manifest strip"
	fs := newFlagSet(name, sio.err)
	remoteHints := fs.Bool("remote-hints", false, "also remove +R remote signature hints")
	if code, ok := manifestFlags(fs, args, "strip [-remote-hints] < MANIFEST", sio); !ok {
		return code
	}
	return rewriteStdin(sio, name, manifest.Strip(*remoteHints))
}

func runManifestSign(args []string, sio stdio) int {
	const name = "manifest sign"
	fs := newFlagSet(name, sio.err)
	f := addSigningFlags(fs, true, false)
	if code, ok := manifestFlags(fs, args, "sign -key-file F [-token T] -ttl D [-expiry UNIX] < MANIFEST", sio); !ok {
		return code
	}
	ring, token, expiry, err := manifestSigner(f, sio, name)
	if err != nil {
		return fail(sio, name, err)
	}
	return rewriteStdin(sio, name, manifest.Sign(ring, token, expiry))
}

func runManifestToRemote(args []string, sio stdio) int {
	const name = "manifest to-remote"
	fs := newFlagSet(name, sio.err)
	remote := fs.String("remote", "", "id of the cluster the manifest came from")
	localSign := fs.Bool("local-sign", false, "also append a fresh local +A signature (needs the key flags)")
	f := addSigningFlags(fs, true, false)
	if code, ok := manifestFlags(fs, args, "to-remote -remote ID [-local-sign -key-file F [-token T] -ttl D [-expiry UNIX]] < MANIFEST", sio); !ok {
		return code
	}
	if err := checkRemoteFlag(*remote); err != nil {
		return fail(sio, name, err)
	}
	if !*localSign {
		return rewriteStdin(sio, name, manifest.ToRemote(*remote))
	}
	ring, token, expiry, err := manifestSigner(f, sio, name)
	if err != nil {
		return fail(sio, name, err)
	}
	return rewriteStdin(sio, name, manifest.ToRemoteSigned(*remote, ring, token, expiry))
}

func runManifestFromRemote(args []string, sio stdio) int {
	const name = "manifest from-remote"
	fs := newFlagSet(name, sio.err)
	remote := fs.String("remote", "", "id of the cluster the manifest is sent to")
	if code, ok := manifestFlags(fs, args, "from-remote -remote ID < MANIFEST", sio); !ok {
		return code
	}
	if err := checkRemoteFlag(*remote); err != nil {
		return fail(sio, name, err)
	}
	return rewriteStdin(sio, name, manifest.FromRemote(*remote))
}

// checkRemoteFlag requires a cluster id: 5 characters of [a-z0-9].
func checkRemoteFlag(remote string) error {
	if remote == "" {
		return usageError{errors.New("-remote is required")}
	}
	if !signing.IsClusterID(remote) {
		return usageError{fmt.Errorf("-remote %q is not a cluster id (5 characters of a-z, 0-9)", remote)}
	}
	return nil
}

// manifestSigner returns the key ring, token and expiry from the signing
// flags. Without a token Arvados removes +A hints and adds none; say so.
func manifestSigner(f *signingFlags, sio stdio, name string) (*signing.KeyRing, string, int64, error) {
	ring, err := f.keyRing()
	if err != nil {
		return nil, "", 0, err
	}
	expiry, err := unixFlag("expiry", f.expiry, time.Now().Add(ring.TTL()).Unix())
	if err != nil {
		return nil, "", 0, err
	}
	token := f.tokenValue(sio)
	if token == "" || !ring.CanSign() {
		fmt.Fprintf(sio.err, "keepfed %s: warning: empty token or key, +A hints are removed and none added\n", name)
	}
	return ring, token, expiry, nil
}

// rewriteStdin applies r to the manifest on stdin and writes the result.
func rewriteStdin(sio stdio, name string, r manifest.Rewriter) int {
	if sio.in == nil {
		return writeOut(sio, name, r.Append(nil, nil))
	}
	if err := rewriteStream(r, sio.in, sio.out, rewriteChunk); err != nil {
		return fail(sio, name, err)
	}
	return 0
}

// rewriteChunk is how much of the manifest rewriteStream holds at once.
const rewriteChunk = 4 << 20

// rewriteStream rewrites the manifest read from in to out, chunk bytes at
// a time: each chunk is cut just before a space, which never splits a
// token of any rewrite (the rule the parallel rewrite cuts its pieces by),
// so the output is the same as rewriting the whole manifest at once. Input
// and output buffers stay about chunk bytes and are reused: rewriting a
// manifest of tens of MB in one piece spent most of its time in page
// faults on the fresh memory of its input, output and piece buffers.
func rewriteStream(r manifest.Rewriter, in io.Reader, out io.Writer, chunk int) error {
	buf := make([]byte, 0, chunk)
	var dst []byte
	eof := false
	for {
		for !eof && len(buf) < cap(buf) {
			n, err := in.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return fmt.Errorf("reading manifest from stdin: %w", err)
			}
		}
		cut := len(buf)
		if !eof {
			if cut = bytes.LastIndexByte(buf, ' '); cut <= 0 {
				// no place to cut: a token longer than the buffer
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				buf = nb
				continue
			}
		}
		if cut > 0 || eof {
			dst = r.Append(dst[:0], buf[:cut])
			if _, err := out.Write(dst); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
		buf = buf[:copy(buf, buf[cut:])]
		if eof && len(buf) == 0 {
			return nil
		}
	}
}
