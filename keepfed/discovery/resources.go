package discovery

type resource struct {
	Methods map[string]method `json:"methods"`
}

// method is one API method. googleapiclient checks every keyword a caller
// passes against "parameters" (plus the root ones) and refuses the call on
// an unknown one or a missing required one, so each method declares every
// parameter the SDKs send to it.
type method struct {
	ID             string           `json:"id"`
	Path           string           `json:"path"`
	HTTPMethod     string           `json:"httpMethod"`
	Description    string           `json:"description"`
	Parameters     map[string]param `json:"parameters"`
	ParameterOrder []string         `json:"parameterOrder"`
	Request        *request         `json:"request,omitempty"`
	// Response is always present, if only as {}: googleapiclient hands
	// back raw bytes instead of decoded JSON for a method without one.
	Response methodResponse `json:"response"`
	Scopes   []string       `json:"scopes"`
}

// request declares the body of create and update. googleapiclient turns
// it into a required "body" keyword and sends that value as the JSON body
// unchanged; the SDKs pass {"<type>": {attributes}} (the documented form)
// or, from arv create/edit, the bare attributes.
type request struct {
	Required   bool                `json:"required"`
	Properties map[string]property `json:"properties"`
}

type methodResponse struct {
	Ref string `json:"$ref,omitempty"`
}

// param is a method or root parameter. Defaults are strings, as Arvados
// publishes them: the arv CLI json-decodes a boolean's default.
// googleapiclient picks the wire form from Type: "true"/"false" for a
// boolean, and (with the Python SDK's patch) JSON for an array or object.
type param struct {
	Type                 string    `json:"type"`
	Description          string    `json:"description"`
	Location             string    `json:"location"`
	Required             bool      `json:"required"`
	Default              string    `json:"default,omitempty"`
	Enum                 []string  `json:"enum,omitempty"`
	EnumDescriptions     []string  `json:"enumDescriptions,omitempty"`
	AdditionalProperties *property `json:"additionalProperties,omitempty"`
}

// optional are the query parameters methods may take, by name.
var optional = map[string]param{
	"filters":              {Type: "array", Description: "Conditions the records must meet, as a JSON array of [attribute, operator, operand] triples."},
	"where":                {Type: "object", Description: "Attribute values the records must have, as a JSON object (an older form of filters)."},
	"order":                {Type: "array", Description: "Sort order: a JSON array of attribute names, each optionally followed by \" asc\" or \" desc\"; a single such string is accepted too."},
	"select":               {Type: "array", Description: "The attributes to return, as a JSON array; all of them when absent."},
	"distinct":             {Type: "boolean", Description: "Drop duplicate records from the results (useful with select).", Default: "false"},
	"limit":                {Type: "integer", Description: "The most records to return; the server may return fewer.", Default: "100"},
	"offset":               {Type: "integer", Description: "How many matching records to skip.", Default: "0"},
	"count":                {Type: "string", Description: "\"exact\" to report items_available, \"none\" to skip counting.", Default: "exact"},
	"cluster_id":           {Type: "string", Description: "The id of the federated cluster to send the request to."},
	"bypass_federation":    {Type: "boolean", Description: "Answer from this cluster only, without asking federated clusters.", Default: "false"},
	"include_trash":        {Type: "boolean", Description: "Include records that are in the trash.", Default: "false"},
	"include_old_versions": {Type: "boolean", Description: "Include past versions of collections, not only current ones.", Default: "false"},
	"ensure_unique_name":   {Type: "boolean", Description: "If the name is taken in the owner project, add a suffix to make it unique instead of failing.", Default: "false"},
	"replace_files": {
		Type:                 "object",
		Description:          "Files to set in the collection, as a JSON object mapping each target path to a source (\"<portable data hash or uuid>/<path>\", \"current/<path>\", or \"\" to delete).",
		AdditionalProperties: &property{Type: "string"},
	},
	"recursive":            {Type: "boolean", Description: "Include the contents of subprojects too.", Default: "false"},
	"include":              {Type: "array", Description: "Also return the records these attributes refer to (such as [\"owner_uuid\"]), in \"included\"."},
	"exclude_home_project": {Type: "boolean", Description: "Leave out records in the user's home project.", Default: "false"},
	"contents_uuid":        {Type: "string", Description: "The uuid of the project or user whose contents to list; the caller's readable records when absent."},
}

var listNames = []string{"filters", "where", "order", "select", "distinct", "limit", "offset", "count", "cluster_id", "bypass_federation"}

// query builds query parameters from names in optional. "contents_uuid"
// is published as "uuid".
func query(names ...string) map[string]param {
	out := make(map[string]param, len(names))
	for _, n := range names {
		p, ok := optional[n]
		if !ok {
			panic("discovery: no parameter " + n)
		}
		p.Location = "query"
		if n == "contents_uuid" {
			n = "uuid"
		}
		out[n] = p
	}
	return out
}

func (m model) uuidParam(verb string) param {
	what := "The uuid of the " + m.schema + " to " + verb + "."
	if m.schema == "Collection" && verb == "return" {
		what = "The uuid or portable data hash of the collection to return."
	}
	return param{Type: "string", Description: what, Location: "path", Required: true}
}

func (m model) id(name string) string { return "arvados." + m.resource + "." + name }

func readScopes() []string  { return []string{scopeFull, scopeReadOnly} }
func writeScopes() []string { return []string{scopeFull} }

func (m model) body() *request {
	return &request{Required: true, Properties: map[string]property{m.request: {Ref: m.schema}}}
}

func (m model) list(extra ...string) method {
	return method{
		ID: m.id("list"), Path: m.resource, HTTPMethod: "GET",
		Description:    "List " + m.schema + " records, a page at a time.",
		Parameters:     query(append(append([]string(nil), listNames...), extra...)...),
		ParameterOrder: []string{},
		Response:       methodResponse{Ref: m.schema + "List"},
		Scopes:         readScopes(),
	}
}

func (m model) get(extra ...string) method {
	ps := query(append([]string{"select"}, extra...)...)
	ps["uuid"] = m.uuidParam("return")
	return method{
		ID: m.id("get"), Path: m.resource + "/{uuid}", HTTPMethod: "GET",
		Description:    "Get one " + m.schema + " record.",
		Parameters:     ps,
		ParameterOrder: []string{"uuid"},
		Response:       methodResponse{Ref: m.schema},
		Scopes:         readScopes(),
	}
}

func (m model) create(extra ...string) method {
	return method{
		ID: m.id("create"), Path: m.resource, HTTPMethod: "POST",
		Description:    "Create a " + m.schema + " record.",
		Parameters:     query(append([]string{"select", "ensure_unique_name", "cluster_id"}, extra...)...),
		ParameterOrder: []string{},
		Request:        m.body(),
		Response:       methodResponse{Ref: m.schema},
		Scopes:         writeScopes(),
	}
}

func (m model) update(extra ...string) method {
	ps := query(append([]string{"select"}, extra...)...)
	ps["uuid"] = m.uuidParam("update")
	return method{
		ID: m.id("update"), Path: m.resource + "/{uuid}", HTTPMethod: "PUT",
		Description:    "Change attributes of a " + m.schema + " record.",
		Parameters:     ps,
		ParameterOrder: []string{"uuid"},
		Request:        m.body(),
		Response:       methodResponse{Ref: m.schema},
		Scopes:         writeScopes(),
	}
}

func (m model) delete() method {
	return method{
		ID: m.id("delete"), Path: m.resource + "/{uuid}", HTTPMethod: "DELETE",
		Description:    "Delete a " + m.schema + " record.",
		Parameters:     map[string]param{"uuid": m.uuidParam("delete")},
		ParameterOrder: []string{"uuid"},
		Response:       methodResponse{Ref: m.schema},
		Scopes:         writeScopes(),
	}
}

// current answers for the caller's own record: users/current,
// api_client_authorizations/current.
func (m model) current() method {
	return method{
		ID: m.id("current"), Path: m.resource + "/current", HTTPMethod: "GET",
		Description:    "Get the " + m.schema + " record of the token this request is made with.",
		Parameters:     map[string]param{},
		ParameterOrder: []string{},
		Response:       methodResponse{Ref: m.schema},
		Scopes:         readScopes(),
	}
}

// crud is list, get, create, update and delete with extra parameters.
func (m model) crud(listX, getX, createX, updateX []string) map[string]method {
	return map[string]method{
		"list":   m.list(listX...),
		"get":    m.get(getX...),
		"create": m.create(createX...),
		"update": m.update(updateX...),
		"delete": m.delete(),
	}
}

func modelNamed(schema string) model {
	for _, m := range allModels() {
		if m.schema == schema {
			return m
		}
	}
	panic("discovery: no model " + schema)
}

// resources returns every resource and method keepfed serves. The path of
// groups.contents is "groups/contents" with the project uuid as an
// optional query parameter, as in Arvados's own document (the FUSE client
// passes uuid= to it). Arvados routes groups/{uuid}/contents as well, but
// its document names only this form, so clients only use this one.
func resources() map[string]resource {
	coll := modelNamed("Collection")
	grp := modelNamed("Group")
	usr := modelNamed("User")
	wf := modelNamed("Workflow")
	lnk := modelNamed("Link")
	tok := modelNamed("ApiClientAuthorization")
	ks := modelNamed("KeepService")

	out := map[string]resource{
		coll.resource: {Methods: coll.crud(
			[]string{"include_trash", "include_old_versions"},
			[]string{"include_trash"},
			[]string{"replace_files"},
			[]string{"replace_files"})},
		grp.resource: {Methods: grp.crud([]string{"include_trash"}, []string{"include_trash"}, nil, nil)},
		usr.resource: {Methods: usr.crud(nil, nil, nil, []string{"bypass_federation"})},
		wf.resource:  {Methods: wf.crud(nil, nil, nil, nil)},
		lnk.resource: {Methods: lnk.crud(nil, nil, nil, nil)},
		tok.resource: {Methods: tok.crud(nil, nil, nil, nil)},
		ks.resource: {Methods: map[string]method{
			"list": ks.list(),
			"get":  ks.get(),
			"accessible": {
				ID: ks.id("accessible"), Path: ks.resource + "/accessible", HTTPMethod: "GET",
				Description:    "List the Keep services this client should read and write blocks through.",
				Parameters:     map[string]param{},
				ParameterOrder: []string{},
				Response:       methodResponse{Ref: ks.schema + "List"},
				Scopes:         readScopes(),
			},
		}},
		"configs": {Methods: map[string]method{"get": {
			ID: "arvados.configs.get", Path: "config", HTTPMethod: "GET",
			Description:    "Get the cluster's public configuration. No token is needed.",
			Parameters:     map[string]param{},
			ParameterOrder: []string{},
			Scopes:         readScopes(),
		}}},
		"vocabularies": {Methods: map[string]method{"get": {
			ID: "arvados.vocabularies.get", Path: "vocabulary", HTTPMethod: "GET",
			Description:    "Get the cluster's metadata vocabulary. No token is needed.",
			Parameters:     map[string]param{},
			ParameterOrder: []string{},
			Scopes:         readScopes(),
		}}},
	}
	out[usr.resource].Methods["current"] = usr.current()
	out[tok.resource].Methods["current"] = tok.current()
	out[grp.resource].Methods["contents"] = method{
		ID: grp.id("contents"), Path: grp.resource + "/contents", HTTPMethod: "GET",
		Description: "List the records in a project (or a user's home project): groups, collections, workflows and more, a page at a time.",
		Parameters: query(append(append([]string(nil), listNames...),
			"include_trash", "contents_uuid", "recursive", "include", "include_old_versions", "exclude_home_project")...),
		ParameterOrder: []string{},
		Response:       methodResponse{Ref: grp.schema + "List"},
		Scopes:         readScopes(),
	}
	return out
}
