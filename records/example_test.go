package records_test

import (
	"log"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/records"
)

// The proxy sits in front of the local routes, inside the request id,
// recover, logging and limit middleware; Compress wraps it so that proxied
// and local JSON answers are compressed alike.
func ExampleProxy_Middleware() {
	p, err := records.New(records.Config{
		LocalID: "zaaaa",
		Resolver: records.StaticResolver{
			"zbbbb": {BaseURL: "https://zbbbb.example.org"},
			"zcccc": {BaseURL: "https://zcccc.example.org:8443", Insecure: true},
		},
		RequestTimeout: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	routes := func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusNotFound) }
	handler := records.Compress(p.Middleware(routes))
	_ = &fasthttp.Server{Handler: handler}
}
