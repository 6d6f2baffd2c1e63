package discovery

// schema is one entry of "schemas". Object schemas carry the uuid infix
// of their type in uuidPrefix: the Go SDK (KindForUUID, PathForUUID, so
// "arvados-client get") and arv-copy map a uuid to its type with it.
type schema struct {
	ID          string              `json:"id"`
	Description string              `json:"description"`
	Type        string              `json:"type"`
	UUIDPrefix  string              `json:"uuidPrefix,omitempty"`
	Properties  map[string]property `json:"properties"`
}

// property describes one attribute, in JSON Schema terms that
// googleapiclient's docstring printer understands: every array has
// "items", every $ref names a schema in the document.
type property struct {
	Type        string    `json:"type,omitempty"`
	Ref         string    `json:"$ref,omitempty"`
	Format      string    `json:"format,omitempty"`
	Description string    `json:"description,omitempty"`
	Default     string    `json:"default,omitempty"`
	Items       *property `json:"items,omitempty"`
}

// attrType is how an attribute is typed in the schema.
type attrType int

const (
	tString attrType = iota
	tText            // long string (manifest, definition)
	tTime            // RFC 3339 timestamp string, or null
	tInt
	tInt64
	tBool
	tHash  // JSON object
	tArray // JSON array of strings
)

func (t attrType) property(desc string) property {
	switch t {
	case tTime:
		return property{Type: "string", Format: "date-time", Description: desc}
	case tInt:
		return property{Type: "integer", Format: "int32", Description: desc}
	case tInt64:
		return property{Type: "integer", Format: "int64", Description: desc}
	case tBool:
		return property{Type: "boolean", Description: desc}
	case tHash:
		return property{Type: "object", Description: desc}
	case tArray:
		return property{Type: "array", Description: desc, Items: &property{Type: "string"}}
	default:
		return property{Type: "string", Description: desc}
	}
}

type attr struct {
	name string
	typ  attrType
	desc string
}

// model is one served record type.
type model struct {
	schema   string // "Collection"
	resource string // "collections"
	request  string // body key for create/update: "collection"
	kind     string // "arvados#collection"
	infix    string // uuid infix: "4zz18"
	desc     string
	attrs    []attr // besides the common ones
}

// common are the attributes every served type has (the token record has
// no modified_by_user_uuid, and keeps its own list).
var common = []attr{
	{"uuid", tString, "The record's Arvados uuid, <cluster>-<infix>-<15 characters>."},
	{"etag", tString, "Version tag of the record, for caching."},
	{"kind", tString, "The record's Arvados type, such as arvados#collection."},
	{"owner_uuid", tString, "The uuid of the user or project that owns the record."},
	{"created_at", tTime, "When the record was created."},
	{"modified_at", tTime, "When the record last changed."},
	{"modified_by_user_uuid", tString, "The uuid of the user who last changed the record."},
}

// models lists the record types keepfed serves, in the attribute sets
// Arvados's own schemas give them.
var models = []model{
	{
		schema: "Collection", resource: "collections", request: "collection",
		kind: "arvados#collection", infix: "4zz18",
		desc: "A collection: a manifest naming files and the Keep blocks that hold their data, with metadata.",
		attrs: []attr{
			{"name", tString, "The collection's name."},
			{"description", tText, "A free-form description of the collection."},
			{"properties", tHash, "Arbitrary metadata key/value pairs."},
			{"manifest_text", tText, "The manifest: one line per directory listing block locators and file segments. Locators are signed in responses."},
			{"portable_data_hash", tString, "The md5 of the unsigned manifest plus its length: a content address for the files."},
			{"replication_desired", tInt, "How many copies of each block to keep; null means the cluster default."},
			{"replication_confirmed", tInt, "How many copies were last confirmed to exist."},
			{"replication_confirmed_at", tTime, "When replication_confirmed was last checked."},
			{"storage_classes_desired", tArray, "Storage classes the blocks should be stored in."},
			{"storage_classes_confirmed", tArray, "Storage classes the blocks were last confirmed in."},
			{"storage_classes_confirmed_at", tTime, "When storage_classes_confirmed was last checked."},
			{"trash_at", tTime, "When the collection is (or was) moved to the trash."},
			{"delete_at", tTime, "When a trashed collection is deleted for good."},
			{"is_trashed", tBool, "Whether the collection is in the trash."},
			{"current_version_uuid", tString, "The uuid of the current version of this collection."},
			{"version", tInt, "The version number of this record. Read-only."},
			{"preserve_version", tBool, "Keep this version when the collection changes again."},
			{"file_count", tInt, "How many files the manifest names. Read-only."},
			{"file_size_total", tInt64, "Total bytes of the files the manifest names. Read-only."},
		},
	},
	{
		schema: "Group", resource: "groups", request: "group",
		kind: "arvados#group", infix: "j7d0g",
		desc: "A group: a project that holds other records, a role that users belong to, or a filter.",
		attrs: []attr{
			{"name", tString, "The group's name."},
			{"description", tText, "A free-form description of the group."},
			{"group_class", tString, "What the group is: project, role or filter."},
			{"properties", tHash, "Arbitrary metadata key/value pairs."},
			{"trash_at", tTime, "When the group is (or was) moved to the trash."},
			{"delete_at", tTime, "When a trashed group is deleted for good."},
			{"is_trashed", tBool, "Whether the group, or a project above it, is in the trash."},
			{"frozen_by_uuid", tString, "The uuid of the user who froze the project, if it is frozen."},
		},
	},
	{
		schema: "User", resource: "users", request: "user",
		kind: "arvados#user", infix: "tpzed",
		desc: "A user account, for a person or a role.",
		attrs: []attr{
			{"email", tString, "The user's email address."},
			{"first_name", tString, "The user's first name."},
			{"last_name", tString, "The user's last name."},
			{"username", tString, "The user's login name on shell nodes."},
			{"identity_url", tString, "The identity provider's URL for the user."},
			{"is_admin", tBool, "Whether the user administers the cluster."},
			{"is_active", tBool, "Whether the user may use the API."},
			{"prefs", tHash, "The user's preferences, as key/value pairs."},
		},
	},
	{
		schema: "Workflow", resource: "workflows", request: "workflow",
		kind: "arvados#workflow", infix: "7fd4e",
		desc: "A workflow: a CWL definition with its metadata.",
		attrs: []attr{
			{"name", tString, "The workflow's name."},
			{"description", tText, "A free-form description of the workflow."},
			{"definition", tText, "The CWL source of the workflow."},
			{"collection_uuid", tString, "The collection the workflow's files are in, if any."},
		},
	},
	{
		schema: "Link", resource: "links", request: "link",
		kind: "arvados#link", infix: "o0j2j",
		desc: "A link: a typed edge from one record (tail) to another (head), such as a permission or a tag.",
		attrs: []attr{
			{"link_class", tString, "The kind of link: permission, tag, star, ..."},
			{"name", tString, "The link's name; for a permission link, its level (can_read, can_write, can_manage)."},
			{"tail_uuid", tString, "The uuid of the record the link starts at."},
			{"head_uuid", tString, "The uuid of the record the link points to."},
			{"properties", tHash, "Arbitrary metadata key/value pairs."},
		},
	},
	{
		schema: "KeepService", resource: "keep_services", request: "keep_service",
		kind: "arvados#keepService", infix: "bi6l4",
		desc: "A Keep service clients can read and write blocks through.",
		attrs: []attr{
			{"service_host", tString, "The service's host name or address."},
			{"service_port", tInt, "The service's TCP port."},
			{"service_ssl_flag", tBool, "Whether the service speaks TLS."},
			{"service_type", tString, "The kind of service: disk, or proxy."},
			{"read_only", tBool, "Whether the service refuses writes."},
		},
	},
}

// tokenModel is the API token record. It has no modified_by_user_uuid.
var tokenModel = model{
	schema: "ApiClientAuthorization", resource: "api_client_authorizations", request: "api_client_authorization",
	kind: "arvados#apiClientAuthorization", infix: "gj3su",
	desc: "An API token: the secret a client authenticates with, and what it may do.",
	attrs: []attr{
		{"uuid", tString, "The token's Arvados uuid, <cluster>-gj3su-<15 characters>."},
		{"etag", tString, "Version tag of the record, for caching."},
		{"kind", tString, "Always arvados#apiClientAuthorization."},
		{"owner_uuid", tString, "The uuid of the user the token acts for."},
		{"api_token", tString, "The secret part of the token."},
		{"created_at", tTime, "When the token was created."},
		{"modified_at", tTime, "When the record last changed."},
		{"expires_at", tTime, "When the token stops working; null for never."},
		{"refreshes_at", tTime, "For a cached token from a remote cluster, when it is checked again."},
		{"last_used_at", tTime, "When the token was last used."},
		{"created_by_ip_address", tString, "The client address that created the token."},
		{"last_used_by_ip_address", tString, "The client address that last used the token."},
		{"scopes", tArray, "The methods and paths the token may be used for; [\"all\"] for everything."},
	},
}

// allModels is models plus the token record.
func allModels() []model {
	return append(append([]model(nil), models...), tokenModel)
}

func (m model) objectSchema() schema {
	props := make(map[string]property)
	if m.schema != tokenModel.schema {
		for _, a := range common {
			props[a.name] = a.typ.property(a.desc)
		}
	}
	for _, a := range m.attrs {
		props[a.name] = a.typ.property(a.desc)
	}
	return schema{
		ID:          m.schema,
		Description: m.desc,
		Type:        "object",
		UUIDPrefix:  m.infix,
		Properties:  props,
	}
}

func (m model) listSchema() schema {
	return schema{
		ID:          m.schema + "List",
		Description: "A page of " + m.schema + " records.",
		Type:        "object",
		Properties: map[string]property{
			"kind":            {Type: "string", Description: "Always " + m.kind + "List.", Default: m.kind + "List"},
			"etag":            {Type: "string", Description: "Version tag of the list, for caching."},
			"items":           {Type: "array", Description: "The matching " + m.schema + " records.", Items: &property{Ref: m.schema}},
			"items_available": {Type: "integer", Description: "How many records match in all, when a count was asked for."},
			"offset":          {Type: "integer", Description: "How many matching records were skipped."},
			"limit":           {Type: "integer", Description: "The most records this page could hold."},
		},
	}
}

// schemas returns every schema the resources refer to.
func schemas() map[string]schema {
	out := make(map[string]schema)
	for _, m := range allModels() {
		out[m.schema] = m.objectSchema()
		out[m.schema+"List"] = m.listSchema()
	}
	return out
}
