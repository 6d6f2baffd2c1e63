package request

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

func TestRenderError(t *testing.T) {
	var ctx fasthttp.RequestCtx
	RenderError(&ctx, Errorf(418, "short and %s", "stout"))
	assert.Equal(t, 418, ctx.Response.StatusCode())
	assert.Equal(t, `{"errors":["short and stout"]}`, strings.TrimSpace(string(ctx.Response.Body())))
	var ctx2 fasthttp.RequestCtx
	RenderError(&ctx2, assert.AnError)
	assert.Equal(t, 500, ctx2.Response.StatusCode())
	assert.NotContains(t, string(ctx2.Response.Body()), assert.AnError.Error())
	require.Equal(t, 502, StatusOf(WrapError(502, "x", assert.AnError)))
}

// TestOwnBody: OwnBody hands out the body SetOwnBody set, and nothing once
// the body was replaced or reset, or when fasthttp's own buffer holds it.
func TestOwnBody(t *testing.T) {
	var ctx fasthttp.RequestCtx
	assert.Nil(t, OwnBody(&ctx), "no body")
	ctx.Request.SetBody([]byte("pooled"))
	assert.Nil(t, OwnBody(&ctx), "fasthttp's pooled buffer is not the request's own")
	b := []byte("mine")
	SetOwnBody(&ctx, b)
	got := OwnBody(&ctx)
	require.NotNil(t, got)
	assert.Same(t, &b[0], &got[0])
	ctx.Request.SetBody([]byte("mine")) // same bytes, fasthttp's buffer
	assert.Nil(t, OwnBody(&ctx), "replaced")
	SetOwnBody(&ctx, b)
	ctx.Request.ResetBody()
	assert.Nil(t, OwnBody(&ctx), "reset")
	SetOwnBody(&ctx, b)
	ReleaseBody(&ctx)
	assert.Nil(t, OwnBody(&ctx), "released")
	assert.Empty(t, ctx.Request.Body())
	assert.Nil(t, ctx.UserValue(ownBodyKey{}), "not kept alive by the record of it")
}
