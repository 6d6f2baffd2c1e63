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
