package blocks

import (
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// IsBlockPath reports whether path is a Keep block route: "/" then
// something keepstore's route accepts, or "//" then one for GET and HEAD.
func IsBlockPath(path, method []byte) bool {
	if len(path) < 1+signing.HashLen || path[0] != '/' {
		return false
	}
	if path[1] == '/' {
		m := string(method)
		if m != fasthttp.MethodGet && m != fasthttp.MethodHead {
			return false
		}
		path = path[1:]
	}
	return len(path) >= 1+signing.HashLen && isLowerHexBytes(path[1:1+signing.HashLen])
}

// Locator returns the locator text of a block path.
func Locator(path []byte) []byte {
	if len(path) > 1 && path[1] == '/' {
		return path[2:]
	}
	return path[1:]
}

func isLowerHexBytes(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
