package main

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/keepfed/keepfed/signing"
)

func init() {
	register("sign", "print each LOCATOR with a +A permission signature", runSign)
	register("verify", "check the +A signature of each LOCATOR: ok, missing, invalid or expired", runVerify)
	register("salt", "print TOKEN salted for a remote cluster", runSalt)
}

func runSign(args []string, sio stdio) int {
	fs := newFlagSet("sign", sio.err)
	f := addSigningFlags(fs, true, false)
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "Usage: keepfed sign -key-file F [-token T] -ttl D -expiry UNIX LOCATOR...")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ring, err := f.keyRing()
	if err != nil {
		return fail(sio, "sign", err)
	}
	expiry, err := unixFlag("expiry", f.expiry, time.Now().Add(ring.TTL()).Unix())
	if err != nil {
		return fail(sio, "sign", err)
	}
	if fs.NArg() == 0 {
		return fail(sio, "sign", usageError{errors.New("no LOCATOR given")})
	}
	token := f.tokenValue(sio)
	w := bufio.NewWriter(sio.out)
	var buf []byte
	for _, loc := range fs.Args() {
		buf = ring.AppendSigned(buf[:0], loc, token, expiry)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		return fail(sio, "sign", err)
	}
	return 0
}

func runVerify(args []string, sio stdio) int {
	fs := newFlagSet("verify", sio.err)
	f := addSigningFlags(fs, false, true)
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "Usage: keepfed verify -key-file F [-key-file OLD]... [-token T] -ttl D [-now UNIX] LOCATOR...")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ring, err := f.keyRing()
	if err != nil {
		return fail(sio, "verify", err)
	}
	now, err := unixFlag("now", f.now, time.Now().Unix())
	if err != nil {
		return fail(sio, "verify", err)
	}
	if fs.NArg() == 0 {
		return fail(sio, "verify", usageError{errors.New("no LOCATOR given")})
	}
	token := f.tokenValue(sio)
	w := bufio.NewWriter(sio.out)
	code := 0
	for _, loc := range fs.Args() {
		verr := ring.Verify(loc, token, now)
		if verr != nil {
			code = 1
		}
		fmt.Fprintln(w, signing.ErrorClass(verr))
	}
	if err := w.Flush(); err != nil {
		return fail(sio, "verify", err)
	}
	return code
}

func runSalt(args []string, sio stdio) int {
	fs := newFlagSet("salt", sio.err)
	remote := fs.String("remote", "", "target cluster id")
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "Usage: keepfed salt -remote ID [TOKEN]   (TOKEN defaults to $ARVADOS_API_TOKEN)")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *remote == "" {
		return fail(sio, "salt", usageError{errors.New("-remote is required")})
	}
	if fs.NArg() > 1 {
		return fail(sio, "salt", usageError{errors.New("at most one TOKEN")})
	}
	token := sio.getenv("ARVADOS_API_TOKEN")
	if fs.NArg() == 1 {
		token = fs.Arg(0)
	}
	salted, err := signing.SaltToken(token, *remote)
	if err != nil {
		class := signing.SaltErrorClass(err)
		fmt.Fprintln(sio.out, class)
		fmt.Fprintf(sio.err, "%s: %s\n", class, saltExplanation(err, *remote))
		return 1
	}
	fmt.Fprintln(sio.out, salted)
	return 0
}

func saltExplanation(err error, remote string) string {
	switch err {
	case signing.ErrObsoleteToken:
		return "this is a v1 token (a bare secret); use its v2 form v2/<token uuid>/<secret> to reach cluster " + remote + "."
	case signing.ErrTokenFormat:
		return "this is not an Arvados v2 token (v2/<uuid>/<secret>), so it cannot be salted."
	case signing.ErrSalted:
		return "the secret is 40 characters, so it is already salted for some cluster and cannot be forwarded to " + remote + "."
	}
	return err.Error()
}
