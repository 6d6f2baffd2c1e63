package request

import (
	"io"
	"math/rand/v2"
	"sync"
	"unsafe"

	"github.com/valyala/fasthttp"
)

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// AppendID appends a new request id, "req-" + 20 random base-36
// characters, to dst.
func AppendID(dst []byte) []byte {
	dst = append(dst, "req-"...)
	for i := 0; i < 2; i++ {
		r := rand.Uint64()
		for j := 0; j < 10; j++ {
			dst = append(dst, base36[r%36])
			r /= 36
		}
	}
	return dst
}

type tokenKey struct{}

// SetToken records the request's first API token for Token.
func SetToken(ctx *fasthttp.RequestCtx, token string) {
	ctx.SetUserValue(tokenKey{}, token)
}

// Token returns the request's first API token, as the token middleware
// found it, or "" when there is none.
func Token(ctx *fasthttp.RequestCtx) string {
	t, _ := ctx.UserValue(tokenKey{}).(string)
	return t
}

type ownBodyKey struct{}

// SetOwnBody makes b the request's body (fasthttp's SetBodyRaw) and
// records that it is a buffer of this request's own, made for it and
// never pooled, which OwnBody hands out for changing in place.
func SetOwnBody(ctx *fasthttp.RequestCtx, b []byte) {
	ctx.Request.SetBodyRaw(b)
	if len(b) > 0 {
		ctx.SetUserValue(ownBodyKey{}, b)
	}
}

// OwnBody returns the request's body when SetOwnBody set it and it is
// still the body, else nil. The caller may change it in place (a large
// manifest is unescaped and stripped where it arrived) and keep slices of
// it past the request: fasthttp never reuses it.
func OwnBody(ctx *fasthttp.RequestCtx) []byte {
	b, _ := ctx.UserValue(ownBodyKey{}).([]byte)
	if len(b) == 0 {
		return nil
	}
	if body := ctx.Request.Body(); len(body) != len(b) || unsafe.SliceData(body) != unsafe.SliceData(b) {
		return nil
	}
	return b
}

// ReleaseBody lets the request's body go (Request.ResetBody, and the
// record SetOwnBody keeps), for a handler that has taken what it needs
// out of a large body: what it kept of it stays, the rest can be
// collected before the request ends.
func ReleaseBody(ctx *fasthttp.RequestCtx) {
	ctx.Request.ResetBody()
	ctx.RemoveUserValue(ownBodyKey{})
}

type slotKey struct{}

// Slot is one request's place under the server's concurrency limits
// (the global limit and the per-client, anonymous and per-remote shares
// the admission middleware accounts together).
type Slot struct {
	free func()
	once sync.Once
	held bool
}

// TakeSlot takes a place in sem for the request without waiting; it
// returns nil when sem is full. The caller calls Slot.Done when its
// handler returns.
func TakeSlot(ctx *fasthttp.RequestCtx, sem chan struct{}) *Slot {
	select {
	case sem <- struct{}{}:
	default:
		return nil
	}
	return NewSlot(ctx, func() { <-sem })
}

// NewSlot makes free the request's slot: it runs once, when the handler
// returns (Slot.Done) or, for a body streamed after that, when the stream
// ends (HoldSlot).
func NewSlot(ctx *fasthttp.RequestCtx, free func()) *Slot {
	s := &Slot{free: free}
	ctx.SetUserValue(slotKey{}, s)
	return s
}

func (s *Slot) release() { s.once.Do(s.free) }

// Done frees the slot when the handler returned, unless HoldSlot kept it
// for a streamed body.
func (s *Slot) Done() {
	if !s.held {
		s.release()
	}
}

// HoldSlot keeps the request's concurrency slot after the handler returns
// (for a streamed body) and returns the function that frees it; it returns
// a no-op when the request is not limited.
func HoldSlot(ctx *fasthttp.RequestCtx) func() {
	s, ok := ctx.UserValue(slotKey{}).(*Slot)
	if !ok {
		return func() {}
	}
	s.held = true
	return s.release
}

// MaxDiscard bounds how much of a refused request body is read and
// thrown away so that a client that sends it all before reading the
// response still gets the answer; beyond it the connection is closed.
const MaxDiscard = 128 << 20

// DiscardBody reads (and drops) what the client still sends of a refused
// request, up to MaxDiscard, and marks the connection to be closed.
func DiscardBody(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	if bs := ctx.RequestBodyStream(); bs != nil {
		io.Copy(io.Discard, io.LimitReader(bs, MaxDiscard)) //nolint:errcheck // best effort
	}
}
