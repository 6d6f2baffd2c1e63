package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/signing"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// signingFlags are the key, token and TTL flags shared by sign, verify and
// the manifest commands.
type signingFlags struct {
	keyFiles multiFlag
	config   string
	cluster  string
	token    string
	ttl      string
	expiry   string
	now      string
	fs       *flag.FlagSet
}

// newFlagSet returns a flag set that reports errors to w and never exits.
func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("keepfed "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	return fs
}

// addSigningFlags registers the shared flags on fs. withExpiry adds
// -expiry (signing), withNow adds -now (verification).
func addSigningFlags(fs *flag.FlagSet, withExpiry, withNow bool) *signingFlags {
	f := &signingFlags{fs: fs}
	fs.Var(&f.keyFiles, "key-file", "file holding the blob signing key (one trailing newline is ignored); repeat to add previous keys that still verify")
	fs.StringVar(&f.config, "config", "", "Arvados config.yml to read Collections.BlobSigningKey and BlobSigningTTL from, instead of -key-file/-ttl")
	fs.StringVar(&f.cluster, "cluster", "", "cluster id in -config (optional when the file has one cluster)")
	fs.StringVar(&f.token, "token", "", "API token exactly as the client presents it (default $ARVADOS_API_TOKEN; given, even empty, it wins)")
	fs.StringVar(&f.ttl, "ttl", "", "BlobSigningTTL as a Go duration (336h, 1209600000000000ns)")
	if withExpiry {
		fs.StringVar(&f.expiry, "expiry", "", "signature expiry, Unix seconds (default now + ttl)")
	}
	if withNow {
		fs.StringVar(&f.now, "now", "", "verify as of this Unix time (default the current time)")
	}
	return f
}

// usageError marks errors that should exit 2.
type usageError struct{ error }

// tokenValue returns -token when it was given, else $ARVADOS_API_TOKEN.
func (f *signingFlags) tokenValue(sio stdio) string {
	given := false
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "token" {
			given = true
		}
	})
	if given {
		return f.token
	}
	return sio.getenv("ARVADOS_API_TOKEN")
}

// keyRing builds the key ring from -key-file/-ttl or -config.
func (f *signingFlags) keyRing() (*signing.KeyRing, error) {
	if f.config != "" {
		if len(f.keyFiles) > 0 {
			return nil, usageError{errors.New("give -config or -key-file, not both")}
		}
		cc, _, err := config.ReadConfig(f.config, f.cluster)
		if err != nil {
			return nil, err
		}
		if f.ttl != "" {
			d, err := time.ParseDuration(f.ttl)
			if err != nil {
				return nil, usageError{fmt.Errorf("-ttl: %w", err)}
			}
			cc.Collections.BlobSigningTTL = config.Duration(d)
		}
		return cc.KeyRing(), nil
	}
	if len(f.keyFiles) == 0 {
		return nil, usageError{errors.New("a key is required: give -key-file or -config")}
	}
	if f.ttl == "" {
		return nil, usageError{errors.New("-ttl is required with -key-file")}
	}
	ttl, err := time.ParseDuration(f.ttl)
	if err != nil {
		return nil, usageError{fmt.Errorf("-ttl: %w", err)}
	}
	keys := make([][]byte, 0, len(f.keyFiles))
	for _, p := range f.keyFiles {
		k, err := readKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return signing.NewKeyRing(ttl, keys[0], keys[1:]...), nil
}

// readKeyFile returns the file's bytes without one trailing newline.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

// unixFlag parses a Unix-seconds flag value, or returns def when empty.
func unixFlag(name, v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, usageError{fmt.Errorf("-%s must be Unix seconds: %q", name, v)}
	}
	return n, nil
}

// fail prints err for command name and returns its exit code.
func fail(sio stdio, name string, err error) int {
	fmt.Fprintf(sio.err, "keepfed %s: %v\n", name, err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// parseFlags parses args and maps -h and flag errors to exit codes.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}
