package keepfed

import (
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/webdav"
)

// webdavRoutes serves keep-web's /c=<collection id>/... paths with the
// embedded backend (keepfed/webdav), from the record store of id.
func (s *Server) webdavRoutes(id *identity.Identity) {
	if s.volume == nil || id.Store() == nil {
		return
	}
	h := webdav.New(webdav.Options{Identity: id, Backend: s.backend, Config: s.cfg})
	s.router.HandlePrefix(webdav.Prefix, h.Serve)
}

// webdavURLs returns the Services.WebDAV and Services.WebDAVDownload
// URLs to publish: the configured ones, and with the embedded backend
// (which serves WebDAV itself) keepfed's own ExternalURL for any not
// configured. With the arvados backend an unconfigured WebDAVDownload
// follows WebDAV, as before.
func (s *Server) webdavURLs(ext string) (dav, download string) {
	dav = s.cfg.Services.WebDAV.ExternalURL
	download = s.cfg.Services.WebDAVDownload.ExternalURL
	if s.cfg.KeepFed.Backend == "arvados" {
		if download == "" {
			download = dav
		}
		return dav, download
	}
	if dav == "" {
		dav = ext
	}
	if download == "" {
		download = ext
	}
	return dav, download
}
