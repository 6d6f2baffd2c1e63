package webdav

import (
	"io"
	"strconv"
	"strings"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/manifest"
	"github.com/valyala/fasthttp"
)

// emptyBlock is the locator of the empty block, which an empty file's
// stream names.
const emptyBlock = "d41d8cd98f00b204e9800998ecf8427e+0"

var (
	errIsDir       = request.NewError(fasthttp.StatusMethodNotAllowed, "cannot PUT to a directory")
	errNoParent    = request.NewError(fasthttp.StatusConflict, "parent directory does not exist")
	errParentFile  = request.NewError(fasthttp.StatusConflict, "a parent of this path is a file")
	errTooLargePut = "request body larger than %d bytes (API.MaxRequestSize)"
)

// put stores the body as the file t.Path of collection t.Collection:
// blocks first, then the manifest, with t's existing file (if any)
// replaced. The update goes through the store with the caller's
// authorization, so a caller who may only read gets 403. 201 Created, as
// keep-web, whether or not the file existed.
func (h *Handler) put(ctx *fasthttp.RequestCtx, t Target, auth store.Authorization, token string) error {
	if t.Dir {
		return errIsDir
	}
	body, err := h.readBody(ctx)
	if err != nil {
		return err
	}
	var locs []string
	for off := 0; off < len(body) || len(locs) == 0; off += h.blockSize {
		chunk := body[off:min(off+h.blockSize, len(body))]
		if len(chunk) == 0 {
			locs = append(locs, emptyBlock)
			break
		}
		hash, err := blocks.StoreBlock(h.backend, chunk, token)
		if err != nil {
			return err
		}
		locs = append(locs, hash+"+"+strconv.Itoa(len(chunk)))
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	// read again under the lock: the record read by Serve may be stale
	rec, err := h.st.Get(store.Collections, t.Collection, auth)
	if err != nil {
		return identity.StoreError(err)
	}
	mt, err := replaceFile(rec.StringAttr("manifest_text"), t.Path, locs, int64(len(body)))
	if err != nil {
		return err
	}
	if _, err := h.st.Update(store.Collections, t.Collection, store.Record{"manifest_text": mt}, auth); err != nil {
		return identity.StoreError(err)
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	return nil
}

// readBody returns the request body, at most maxBody bytes (413 beyond).
// The server's body-limit middleware has usually read it already.
func (h *Handler) readBody(ctx *fasthttp.RequestCtx) ([]byte, error) {
	if cl := ctx.Request.Header.ContentLength(); cl > h.maxBody {
		request.DiscardBody(ctx)
		return nil, request.Errorf(fasthttp.StatusRequestEntityTooLarge, errTooLargePut, h.maxBody)
	}
	if bs := ctx.RequestBodyStream(); bs != nil {
		b, err := io.ReadAll(io.LimitReader(bs, int64(h.maxBody)+1))
		if err != nil {
			ctx.SetConnectionClose()
			return nil, request.WrapError(fasthttp.StatusBadRequest, "reading the request body failed", err)
		}
		if len(b) > h.maxBody {
			request.DiscardBody(ctx)
			return nil, request.Errorf(fasthttp.StatusRequestEntityTooLarge, errTooLargePut, h.maxBody)
		}
		return b, nil
	}
	b := ctx.Request.Body()
	if len(b) > h.maxBody {
		return nil, request.Errorf(fasthttp.StatusRequestEntityTooLarge, errTooLargePut, h.maxBody)
	}
	return b, nil
}

// replaceFile returns mt with the file at name (its every segment, in
// any stream) removed and a stream holding the file as locs (size bytes)
// added, in the normal form Arvados writes. The file's directory must
// exist (409, as WebDAV's PUT); a directory of that name is 405.
func replaceFile(mt, name string, locs []string, size int64) (string, error) {
	streams, err := manifest.Parse([]byte(mt))
	if err != nil {
		return "", request.WrapError(fasthttp.StatusInternalServerError, "stored manifest is invalid", err)
	}
	if isDir(streams, name) {
		return "", errIsDir
	}
	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	for d := dir; d != ""; {
		if _, found, _ := findFile(mt, d); found {
			return "", errParentFile
		}
		i := strings.LastIndexByte(d, '/')
		if i < 0 {
			break
		}
		d = d[:i]
	}
	if dir != "" && !isDir(streams, dir) {
		return "", errNoParent
	}
	var b []byte
	for _, s := range streams {
		sdir := dirOf(s.Name)
		kept := s.Files[:0]
		for _, f := range s.Files {
			if joinPath(sdir, f.Name) != name {
				kept = append(kept, f)
			}
		}
		if len(kept) == 0 {
			if sdir != "" {
				// keep the directory: an empty one gets the
				// "\056" placeholder Arvados writes
				kept = append(kept, manifest.File{Name: "."})
			} else {
				continue
			}
		}
		b = appendStream(b, s.Name, s.Locators, kept)
	}
	stream := "."
	if dir != "" {
		stream = "./" + dir
	}
	b = appendStream(b, stream, locs, []manifest.File{{Pos: 0, Size: size, Name: base}})
	out, err := manifest.Normalize(b)
	if err != nil {
		return "", request.WrapError(fasthttp.StatusConflict, "cannot write the file into the collection: "+err.Error(), err)
	}
	return string(out), nil
}

// appendStream appends one manifest line.
func appendStream(b []byte, name string, locs []string, files []manifest.File) []byte {
	b = manifest.AppendEscape(b, name)
	hasLoc := false
	for _, l := range locs {
		b = append(append(b, ' '), l...)
		hasLoc = true
	}
	if !hasLoc {
		b = append(b, " "+emptyBlock...)
	}
	for _, f := range files {
		b = append(b, ' ')
		b = strconv.AppendInt(b, f.Pos, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, f.Size, 10)
		b = append(b, ':')
		if f.Name == "." {
			b = append(b, `\056`...)
		} else {
			b = manifest.AppendEscape(b, f.Name)
		}
	}
	return append(b, '\n')
}
