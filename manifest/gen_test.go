package manifest

import "github.com/keepfed/keepfed/internal/manifestgen"

// The benchmark manifests, shared with bench/.
var (
	genOneStream  = manifestgen.OneStream
	genSmallFiles = manifestgen.SmallFiles
)
