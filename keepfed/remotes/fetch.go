package remotes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

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

// Reason returns a short text explaining a remote error response:
// the first of {"errors":[...]} when the body is an Arvados JSON error,
// else the start of the body, else the status text.
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
	body = bytes.TrimSpace(body)
	var e request.ErrorBody
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		return e.Errors[0]
	}
	if len(body) > 0 {
		return string(body)
	}
	return fasthttp.StatusMessage(resp.StatusCode())
}
