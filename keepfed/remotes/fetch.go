package remotes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// Fetch asks the remote's keep services, in rendezvous probe order, for
// the block: method is GET or HEAD, locator the "+A" form (already
// translated from "+R"), token the salted token, size the expected size
// (checked against Content-Length when > 0).
//
// It moves on to the next service after a connection error, a timeout, a
// 5xx, a 404 or a wrong Content-Length, and stops at the first 200 (the
// response is returned with its body not yet read: the caller must
// ReleaseResponse it) or the first 400/401/403 (the remote refused
// the token or signature: 403 with the remote's reason). When every
// service failed: all 404 → 404, else 502; and unless every answer was a
// 404 the discovered service list is dropped, so the next request
// discovers again. Every error names the remote cluster.
func (rm *Remote) Fetch(method, locator, token, hash string, size int64) (*fasthttp.Response, error) {
	defer rm.use()()
	svcs, err := rm.Services()
	if err != nil {
		return nil, request.WrapError(fasthttp.StatusBadGateway, "remote cluster "+rm.ID+": keep service discovery failed: "+err.Error(), err)
	}
	order := make([]KeepService, len(svcs))
	copy(order, svcs)
	SortProbeOrder(hash, order)

	var (
		lastErr          error
		notFound, others int
	)
	for _, svc := range order {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(svc.BaseURL() + "/" + locator)
		req.Header.SetMethod(method)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.SetBytesV("X-Request-Id", request.AppendID(nil))
		req.Header.Del(fasthttp.HeaderAcceptEncoding)
		resp.StreamBody = method == fasthttp.MethodGet
		start := time.Now()
		var err error
		if rm.reqTO > 0 {
			err = rm.client.DoDeadline(req, resp, start.Add(rm.reqTO))
		} else {
			err = rm.client.Do(req, resp)
		}
		fasthttp.ReleaseRequest(req)
		rm.metrics.RemoteRequest(rm.ID, time.Since(start))
		if err != nil {
			class := ErrorClass(err)
			rm.metrics.RemoteError(rm.ID, class)
			ReleaseResponse(resp, err)
			others++
			lastErr = fmt.Errorf("%s: %s", svc.BaseURL(), err)
			continue
		}
		status := resp.StatusCode()
		switch {
		case status == fasthttp.StatusOK:
			if ce := resp.Header.ContentEncoding(); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
				rm.metrics.RemoteError(rm.ID, metrics.ErrClassCorrupt)
				ReleaseResponse(resp, errors.New("encoded block"))
				others++
				lastErr = fmt.Errorf("%s: sent the block with a Content-Encoding (refused, never decoded)", svc.BaseURL())
				continue
			}
			if cl := resp.Header.ContentLength(); size > 0 && cl != int(size) && !(method == fasthttp.MethodHead && cl < 0) {
				rm.metrics.RemoteError(rm.ID, metrics.ErrClassCorrupt)
				ReleaseResponse(resp, errors.New("wrong content length"))
				others++
				lastErr = fmt.Errorf("%s: Content-Length %d does not match size %d", svc.BaseURL(), cl, size)
				continue
			}
			return resp, nil
		case status == fasthttp.StatusNotFound:
			rm.metrics.RemoteError(rm.ID, metrics.ErrClassNotFound)
			ReleaseResponse(resp, nil)
			notFound++
			lastErr = fmt.Errorf("%s: not found", svc.BaseURL())
		case status == fasthttp.StatusBadRequest || status == fasthttp.StatusUnauthorized || status == fasthttp.StatusForbidden:
			rm.metrics.RemoteError(rm.ID, metrics.ErrClassDenied)
			reason := Reason(resp)
			ReleaseResponse(resp, nil)
			return nil, request.Errorf(fasthttp.StatusForbidden, "remote cluster %s refused the block request (%d): %s", rm.ID, status, reason)
		default:
			class := metrics.ErrClassOther
			if status >= 500 {
				class = metrics.ErrClassServer
			}
			rm.metrics.RemoteError(rm.ID, class)
			reason := Reason(resp)
			ReleaseResponse(resp, nil)
			others++
			lastErr = fmt.Errorf("%s: status %d: %s", svc.BaseURL(), status, reason)
		}
	}
	if others > 0 {
		rm.Invalidate()
	}
	if others == 0 && notFound > 0 {
		return nil, request.Errorf(fasthttp.StatusNotFound, "block not found at remote cluster %s", rm.ID)
	}
	return nil, request.WrapError(fasthttp.StatusBadGateway, "remote cluster "+rm.ID+" failed to serve the block: "+lastErr.Error(), lastErr)
}

// ReleaseResponse closes the response's body stream (closing the
// connection when err is not nil, so a half-read body is never reused)
// and releases it.
func ReleaseResponse(resp *fasthttp.Response, err error) {
	if bs := resp.BodyStream(); bs != nil {
		if rc, ok := bs.(fasthttp.ReadCloserWithError); ok && err != nil {
			rc.CloseWithError(err) //nolint:errcheck // best effort
		} else {
			resp.CloseBodyStream() //nolint:errcheck // best effort
		}
	}
	fasthttp.ReleaseResponse(resp)
}

// MaxReasonLen bounds the remote's own words Reason quotes.
const MaxReasonLen = 100

// Reason returns a short text explaining a remote error response, for an
// error message that goes back to the client: the first message of a
// well-formed Arvados JSON error ({"errors":["..."]}), with control and
// non-printable characters dropped and cut to MaxReasonLen bytes; else
// only the status text. Any other body is never quoted: the answering
// server may be one a remote named as a keep service (an internal
// address), and its bytes must not flow back to the client.
func Reason(resp *fasthttp.Response) string {
	var body []byte
	if bs := resp.BodyStream(); bs != nil {
		var buf [1024]byte
		n, _ := io.ReadFull(bs, buf[:])
		body = buf[:n]
	} else {
		body = resp.Body()
		if len(body) > 1024 {
			body = body[:1024]
		}
	}
	if msg, ok := ErrorMessage(body); ok {
		return msg
	}
	return fasthttp.StatusMessage(resp.StatusCode())
}

// ErrorMessage returns the first message of an Arvados JSON error body,
// cleaned as Reason describes, or false when body is not one or the
// message is empty once cleaned.
func ErrorMessage(body []byte) (string, bool) {
	var e request.ErrorBody
	if json.Unmarshal(bytes.TrimSpace(body), &e) != nil || len(e.Errors) == 0 {
		return "", false
	}
	var b strings.Builder
	for _, r := range e.Errors[0] {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxReasonLen {
			break
		}
		b.WriteRune(r)
	}
	msg := strings.TrimSpace(b.String())
	return msg, msg != ""
}

// ErrTooSlow cuts a remote block body that arrives slower than the
// registry's MinRate.
var ErrTooSlow = errors.New("remote keep service sent the block too slowly")

// Body returns the body of a block response from Fetch, cut with
// ErrTooSlow when less than MinRate × MinRateWindow bytes arrive while
// keepfed spends a window's length waiting on the remote. Only time
// blocked reading from the remote counts, so a slow client downstream
// (keepfed then reads the remote slowly) is not taken for a slow remote.
func (rm *Remote) Body(resp *fasthttp.Response) io.Reader {
	bs := resp.BodyStream()
	if bs == nil || rm.minRate <= 0 || rm.rateWin <= 0 {
		return bs
	}
	return &minRateReader{r: bs, min: int64(float64(rm.minRate) * rm.rateWin.Seconds()), window: rm.rateWin}
}

// minRateReader fails a read once its reads have waited a window's
// length in all with fewer than min bytes arriving meanwhile.
type minRateReader struct {
	r      io.Reader
	min    int64
	window time.Duration
	waited time.Duration // time blocked in reads in the current window
	n      int64         // bytes read in the current window
}

func (m *minRateReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := m.r.Read(p)
	m.waited += time.Since(start)
	m.n += int64(n)
	if m.waited >= m.window {
		if m.n < m.min {
			return n, fmt.Errorf("%w: %d bytes in %s, less than %d", ErrTooSlow, m.n, m.waited.Round(time.Millisecond), m.min)
		}
		m.waited, m.n = 0, 0
	}
	return n, err
}
