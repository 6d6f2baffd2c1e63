package keepfed

import (
	"encoding/json"
	"io"
	"strconv"

	"github.com/valyala/fasthttp"
)

type fasthttpCtx = fasthttp.RequestCtx

func writeJSON(w io.Writer, v any) { json.NewEncoder(w).Encode(v) } //nolint:errcheck // tests

func itoa(n int) string { return strconv.Itoa(n) }
