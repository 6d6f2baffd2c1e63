package discovery

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testParams() Params {
	return Params{
		ClusterID:          "zzzzz",
		ExternalURL:        "https://127.0.0.1:9002",
		DefaultReplication: 2,
		BlobSignatureTTL:   336 * time.Hour,
		MaxRequestSize:     128 << 20,
		RemoteHosts:        map[string]string{"aaaaa": "aaaaa.example:443", "*": "ignored"},
		RemoteHostsViaDNS:  true,
		Revision:           "20261202",
		Version:            "keepfed 1.2.3",
	}
}

// decode parses b keeping numbers as json.Number, so a test can tell an
// integer from a string that looks like one.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	return m
}

func testDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := Document(testParams())
	require.NoError(t, err)
	return decode(t, b)
}

func obj(t *testing.T, v any, where string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	require.Truef(t, ok, "%s is %T, want an object", where, v)
	return m
}

func TestDocumentTopLevel(t *testing.T) {
	d := testDoc(t)
	for _, tc := range []struct {
		key  string
		want any
	}{
		{"kind", "discovery#restDescription"},
		{"discoveryVersion", "v1"},
		{"id", "arvados:v1"},
		{"name", "arvados"},
		{"version", "v1"},
		{"revision", "20261202"},
		{"title", "Arvados API"},
		{"protocol", "rest"},
		{"rootUrl", "https://127.0.0.1:9002/"},
		{"servicePath", "arvados/v1/"},
		{"batchPath", "batch"},
		{"baseUrl", "https://127.0.0.1:9002/arvados/v1/"},
		{"basePath", "/arvados/v1/"},
		{"uuidPrefix", "zzzzz"},
		{"defaultCollectionReplication", json.Number("2")},
		{"blobSignatureTtl", json.Number("1209600")},
		{"maxRequestSize", json.Number("134217728")},
		{"remoteHosts", map[string]any{"aaaaa": "aaaaa.example:443"}},
		{"remoteHostsViaDNS", true},
		{"websocketUrl", ""},
		{"source_version", "keepfed 1.2.3"},
		{"sourceVersion", "keepfed 1.2.3"},
		{"packageVersion", "keepfed 1.2.3"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			require.Contains(t, d, tc.key)
			assert.Equal(t, tc.want, d[tc.key])
		})
	}
	assert.NotEmpty(t, d["description"])
	obj(t, obj(t, d["auth"], "auth")["oauth2"], "auth.oauth2")
}

func TestRootParameters(t *testing.T) {
	ps := obj(t, testDoc(t)["parameters"], "parameters")
	for _, name := range []string{"alt", "fields", "key", "oauth_token", "prettyPrint", "quotaUser", "userIp"} {
		p := obj(t, ps[name], "parameters."+name)
		assert.Equal(t, "query", p["location"], name)
		assert.NotEqual(t, true, p["required"], "%s must not be required: googleapiclient would demand it on every call", name)
	}
	// googleapiclient's JSON model sends alt=json on every request and
	// checks enum parameters, so "json" must be allowed.
	alt := obj(t, ps["alt"], "parameters.alt")
	assert.Equal(t, "json", alt["default"])
	assert.Equal(t, []any{"json"}, alt["enum"])
}

// wantMethods is every method keepfed serves.
var wantMethods = []struct {
	resource, method, path, httpMethod, request, response string
}{
	{"collections", "list", "collections", "GET", "", "CollectionList"},
	{"collections", "get", "collections/{uuid}", "GET", "", "Collection"},
	{"collections", "create", "collections", "POST", "collection", "Collection"},
	{"collections", "update", "collections/{uuid}", "PUT", "collection", "Collection"},
	{"collections", "delete", "collections/{uuid}", "DELETE", "", "Collection"},
	{"groups", "list", "groups", "GET", "", "GroupList"},
	{"groups", "get", "groups/{uuid}", "GET", "", "Group"},
	{"groups", "create", "groups", "POST", "group", "Group"},
	{"groups", "update", "groups/{uuid}", "PUT", "group", "Group"},
	{"groups", "delete", "groups/{uuid}", "DELETE", "", "Group"},
	{"groups", "contents", "groups/contents", "GET", "", "GroupList"},
	{"users", "list", "users", "GET", "", "UserList"},
	{"users", "get", "users/{uuid}", "GET", "", "User"},
	{"users", "create", "users", "POST", "user", "User"},
	{"users", "update", "users/{uuid}", "PUT", "user", "User"},
	{"users", "delete", "users/{uuid}", "DELETE", "", "User"},
	{"users", "current", "users/current", "GET", "", "User"},
	{"workflows", "list", "workflows", "GET", "", "WorkflowList"},
	{"workflows", "get", "workflows/{uuid}", "GET", "", "Workflow"},
	{"workflows", "create", "workflows", "POST", "workflow", "Workflow"},
	{"workflows", "update", "workflows/{uuid}", "PUT", "workflow", "Workflow"},
	{"workflows", "delete", "workflows/{uuid}", "DELETE", "", "Workflow"},
	{"links", "list", "links", "GET", "", "LinkList"},
	{"links", "get", "links/{uuid}", "GET", "", "Link"},
	{"links", "create", "links", "POST", "link", "Link"},
	{"links", "update", "links/{uuid}", "PUT", "link", "Link"},
	{"links", "delete", "links/{uuid}", "DELETE", "", "Link"},
	{"api_client_authorizations", "list", "api_client_authorizations", "GET", "", "ApiClientAuthorizationList"},
	{"api_client_authorizations", "get", "api_client_authorizations/{uuid}", "GET", "", "ApiClientAuthorization"},
	{"api_client_authorizations", "create", "api_client_authorizations", "POST", "api_client_authorization", "ApiClientAuthorization"},
	{"api_client_authorizations", "update", "api_client_authorizations/{uuid}", "PUT", "api_client_authorization", "ApiClientAuthorization"},
	{"api_client_authorizations", "delete", "api_client_authorizations/{uuid}", "DELETE", "", "ApiClientAuthorization"},
	{"api_client_authorizations", "current", "api_client_authorizations/current", "GET", "", "ApiClientAuthorization"},
	{"keep_services", "accessible", "keep_services/accessible", "GET", "", "KeepServiceList"},
	{"keep_services", "list", "keep_services", "GET", "", "KeepServiceList"},
	{"keep_services", "get", "keep_services/{uuid}", "GET", "", "KeepService"},
	{"configs", "get", "config", "GET", "", ""},
	{"vocabularies", "get", "vocabulary", "GET", "", ""},
}

// methodsOf returns resource -> method name -> method object.
func methodsOf(t *testing.T, d map[string]any) map[string]map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]map[string]any{}
	for rname, r := range obj(t, d["resources"], "resources") {
		ms := obj(t, obj(t, r, rname)["methods"], rname+".methods")
		out[rname] = map[string]map[string]any{}
		for mname, m := range ms {
			out[rname][mname] = obj(t, m, rname+"."+mname)
		}
	}
	return out
}

func TestDocumentMethods(t *testing.T) {
	all := methodsOf(t, testDoc(t))
	seen := map[string]bool{}
	for _, tc := range wantMethods {
		name := tc.resource + "." + tc.method
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			require.Contains(t, all, tc.resource)
			require.Contains(t, all[tc.resource], tc.method)
			m := all[tc.resource][tc.method]
			assert.Equal(t, "arvados."+name, m["id"])
			assert.Equal(t, tc.path, m["path"])
			assert.Equal(t, tc.httpMethod, m["httpMethod"])
			assert.NotEmpty(t, m["description"])
			assert.NotEmpty(t, m["scopes"])
			obj(t, m["parameters"], name+".parameters")

			// Without "response" googleapiclient returns raw bytes, and
			// the Python SDK's config() would index into them.
			require.Contains(t, m, "response")
			resp := obj(t, m["response"], name+".response")
			if tc.response == "" {
				assert.Empty(t, resp)
			} else {
				assert.Equal(t, map[string]any{"$ref": tc.response}, resp)
			}

			if tc.request == "" {
				assert.NotContains(t, m, "request")
				return
			}
			req := obj(t, m["request"], name+".request")
			assert.Equal(t, true, req["required"])
			assert.Equal(t, map[string]any{tc.request: map[string]any{"$ref": strings.TrimSuffix(tc.response, "List")}}, req["properties"])
		})
	}
	for rname, ms := range all {
		for mname := range ms {
			assert.Truef(t, seen[rname+"."+mname], "unexpected method %s.%s: keepfed does not serve it", rname, mname)
		}
	}
}

// pathParams returns the {name} placeholders of a method path.
func pathParams(path string) []string {
	var names []string
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return names
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			return names
		}
		names = append(names, path[i+1:i+j])
		path = path[i+j+1:]
	}
}

func TestPathParams(t *testing.T) {
	assert.Equal(t, []string{"uuid"}, pathParams("collections/{uuid}"))
	assert.Equal(t, []string{"a", "b"}, pathParams("x/{a}/y/{b}"))
	assert.Nil(t, pathParams("groups/contents"))

	for rname, ms := range methodsOf(t, testDoc(t)) {
		for mname, m := range ms {
			name := rname + "." + mname
			ps := obj(t, m["parameters"], name+".parameters")
			order, ok := m["parameterOrder"].([]any)
			require.Truef(t, ok, "%s.parameterOrder is %T", name, m["parameterOrder"])
			inPath := map[string]bool{}
			for _, p := range pathParams(m["path"].(string)) {
				inPath[p] = true
				require.Containsf(t, ps, p, "%s: {%s} in path is not declared", name, p)
				pd := obj(t, ps[p], name+"."+p)
				assert.Equal(t, "path", pd["location"], name+"."+p)
				assert.Equal(t, true, pd["required"], name+"."+p)
				assert.Equal(t, "string", pd["type"], name+"."+p)
				assert.Containsf(t, order, p, "%s: {%s} not in parameterOrder", name, p)
			}
			for pname, pv := range ps {
				pd := obj(t, pv, name+"."+pname)
				if pd["location"] == "path" {
					assert.Truef(t, inPath[pname], "%s: path parameter %s is not in the path", name, pname)
				} else {
					assert.Equal(t, "query", pd["location"], name+"."+pname)
					assert.NotEqualf(t, true, pd["required"], "%s: query parameter %s is required", name, pname)
				}
			}
			for _, o := range order {
				assert.Containsf(t, ps, o, "%s: parameterOrder names undeclared %v", name, o)
			}
		}
	}
}

var (
	listParams   = []string{"filters", "where", "order", "select", "distinct", "limit", "offset", "count", "cluster_id", "bypass_federation"}
	createParams = []string{"select", "ensure_unique_name", "cluster_id"}
)

func with(base []string, extra ...string) []string {
	return append(append([]string(nil), base...), extra...)
}

func TestMethodParameters(t *testing.T) {
	want := map[string][]string{
		"collections.list":   with(listParams, "include_trash", "include_old_versions"),
		"collections.get":    {"uuid", "select", "include_trash"},
		"collections.create": with(createParams, "replace_files"),
		"collections.update": {"uuid", "select", "replace_files"},
		"collections.delete": {"uuid"},
		"groups.list":        with(listParams, "include_trash"),
		"groups.get":         {"uuid", "select", "include_trash"},
		"groups.create":      createParams,
		"groups.update":      {"uuid", "select"},
		"groups.delete":      {"uuid"},
		"groups.contents": with(listParams, "include_trash", "uuid", "recursive", "include",
			"include_old_versions", "exclude_home_project"),
		"users.list":                        listParams,
		"users.get":                         {"uuid", "select"},
		"users.create":                      createParams,
		"users.update":                      {"uuid", "select", "bypass_federation"},
		"users.delete":                      {"uuid"},
		"users.current":                     {},
		"api_client_authorizations.current": {},
		"keep_services.accessible":          {},
		"keep_services.list":                listParams,
		"keep_services.get":                 {"uuid", "select"},
		"configs.get":                       {},
		"vocabularies.get":                  {},
	}
	for _, r := range []string{"workflows", "links", "api_client_authorizations"} {
		want[r+".list"] = listParams
		want[r+".get"] = []string{"uuid", "select"}
		want[r+".create"] = createParams
		want[r+".update"] = []string{"uuid", "select"}
		want[r+".delete"] = []string{"uuid"}
	}
	all := methodsOf(t, testDoc(t))
	for rname, ms := range all {
		for mname, m := range ms {
			name := rname + "." + mname
			exp, ok := want[name]
			require.Truef(t, ok, "no expectation for %s", name)
			var got []string
			for p := range obj(t, m["parameters"], name) {
				got = append(got, p)
			}
			assert.ElementsMatch(t, exp, got, name)
		}
	}
	assert.Len(t, want, len(wantMethods))
}

// TestParameterTypes checks each parameter's type, which googleapiclient
// uses to put it on the wire (the Python SDK JSON-encodes arrays and
// objects), and that defaults are strings that parse as that type (the arv
// CLI json-decodes a boolean's default).
func TestParameterTypes(t *testing.T) {
	types := map[string]string{
		"uuid": "string", "select": "array", "filters": "array", "where": "object", "order": "array",
		"distinct": "boolean", "limit": "integer", "offset": "integer", "count": "string",
		"cluster_id": "string", "bypass_federation": "boolean", "include_trash": "boolean",
		"include_old_versions": "boolean", "ensure_unique_name": "boolean", "replace_files": "object",
		"recursive": "boolean", "include": "array", "exclude_home_project": "boolean",
	}
	for rname, ms := range methodsOf(t, testDoc(t)) {
		for mname, m := range ms {
			for pname, pv := range obj(t, m["parameters"], mname) {
				name := rname + "." + mname + "." + pname
				pd := obj(t, pv, name)
				assert.Equal(t, types[pname], pd["type"], name)
				assert.NotEmpty(t, pd["description"], name)
				def, has := pd["default"]
				if !has {
					continue
				}
				s, ok := def.(string)
				require.Truef(t, ok, "%s default is %T, want a string", name, def)
				switch pd["type"] {
				case "boolean":
					var b bool
					assert.NoError(t, json.Unmarshal([]byte(s), &b), name)
				case "integer":
					var n int
					assert.NoError(t, json.Unmarshal([]byte(s), &n), name)
				}
			}
		}
	}
	replace := obj(t, methodsOf(t, testDoc(t))["collections"]["create"]["parameters"], "")["replace_files"]
	assert.Equal(t, map[string]any{"type": "string"}, obj(t, replace, "replace_files")["additionalProperties"])
}

// TestNumericFields checks that every number a client reads is a JSON
// integer, not a string: the Go SDK asserts float64 on them.
func TestNumericFields(t *testing.T) {
	d := testDoc(t)
	for _, key := range []string{"defaultCollectionReplication", "blobSignatureTtl", "maxRequestSize"} {
		n, ok := d[key].(json.Number)
		require.Truef(t, ok, "%s is %T, want a number", key, d[key])
		_, err := n.Int64()
		assert.NoError(t, err, key)
	}
	for _, key := range []string{"uuidPrefix", "revision", "rootUrl", "websocketUrl", "basePath"} {
		assert.IsType(t, "", d[key], key)
	}
	assert.IsType(t, true, d["remoteHostsViaDNS"])

	p := testParams()
	p.BlobSignatureTTL = 90*time.Minute + 700*time.Millisecond
	b, err := Document(p)
	require.NoError(t, err)
	assert.Equal(t, json.Number("5400"), decode(t, b)["blobSignatureTtl"], "whole seconds")
}

// TestSchemas checks that every $ref names a schema (googleapiclient
// looks each one up while building a resource, and fails on a missing
// one), that every array says what it holds, and the attribute lists.
func TestSchemas(t *testing.T) {
	d := testDoc(t)
	ss := obj(t, d["schemas"], "schemas")
	var refs []string
	// Parameters are not schemas: googleapiclient never prints them, and
	// Arvados gives its array parameters no items.
	var walk func(string, any, bool)
	walk = func(where string, v any, isSchema bool) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"]; ok {
				refs = append(refs, r.(string))
			}
			if isSchema && v["type"] == "array" {
				assert.Containsf(t, v, "items", "%s: array without items", where)
			}
			for k, x := range v {
				walk(where+"."+k, x, isSchema)
			}
		case []any:
			for _, x := range v {
				walk(where, x, isSchema)
			}
		}
	}
	walk("", ss, true)
	walk("", d["resources"], false)
	assert.NotEmpty(t, refs)
	for _, r := range refs {
		assert.Containsf(t, ss, r, "$ref %q names no schema", r)
	}

	infixes := map[string]string{
		"Collection": "4zz18", "Group": "j7d0g", "User": "tpzed", "Workflow": "7fd4e",
		"Link": "o0j2j", "ApiClientAuthorization": "gj3su", "KeepService": "bi6l4",
	}
	var names []string
	for n := range ss {
		names = append(names, n)
	}
	var want []string
	for n := range infixes {
		want = append(want, n, n+"List")
	}
	sort.Strings(names)
	sort.Strings(want)
	assert.Equal(t, want, names)

	jsonTypes := map[any]bool{"string": true, "integer": true, "boolean": true, "object": true, "array": true}
	for name, infix := range infixes {
		s := obj(t, ss[name], name)
		assert.Equal(t, name, s["id"])
		assert.Equal(t, "object", s["type"])
		assert.Equal(t, infix, s["uuidPrefix"], name)
		props := obj(t, s["properties"], name)
		for _, p := range []string{"uuid", "etag", "kind", "owner_uuid", "created_at", "modified_at"} {
			assert.Containsf(t, props, p, "%s.%s", name, p)
		}
		for pname, pv := range props {
			assert.Truef(t, jsonTypes[obj(t, pv, pname)["type"]], "%s.%s has type %v", name, pname, obj(t, pv, pname)["type"])
		}

		l := obj(t, ss[name+"List"], name+"List")
		assert.Equal(t, name+"List", l["id"])
		assert.Equal(t, "object", l["type"])
		assert.NotContains(t, l, "uuidPrefix")
		lp := obj(t, l["properties"], name+"List")
		for _, p := range []string{"kind", "etag", "items", "items_available", "offset", "limit"} {
			assert.Containsf(t, lp, p, "%sList.%s", name, p)
		}
		assert.Equal(t, map[string]any{"$ref": name}, obj(t, lp["items"], "items")["items"])
	}

	coll := obj(t, obj(t, ss["Collection"], "")["properties"], "")
	for _, p := range []string{"modified_by_user_uuid", "name", "description", "properties", "manifest_text",
		"portable_data_hash", "replication_desired", "storage_classes_desired", "trash_at", "delete_at",
		"is_trashed", "file_count", "file_size_total", "current_version_uuid", "version", "preserve_version"} {
		assert.Contains(t, coll, p)
	}
	assert.Equal(t, "arvados#collectionList", obj(t, obj(t, obj(t, ss["CollectionList"], "")["properties"], "")["kind"], "")["default"])
	for schema, props := range map[string][]string{
		"Group":                  {"name", "group_class", "properties", "is_trashed", "trash_at", "delete_at", "frozen_by_uuid"},
		"User":                   {"email", "first_name", "last_name", "username", "is_admin", "is_active", "prefs", "identity_url"},
		"Workflow":               {"name", "description", "definition", "collection_uuid"},
		"Link":                   {"link_class", "name", "head_uuid", "tail_uuid", "properties"},
		"ApiClientAuthorization": {"api_token", "expires_at", "scopes"},
		"KeepService":            {"service_host", "service_port", "service_ssl_flag", "service_type", "read_only"},
	} {
		ps := obj(t, obj(t, ss[schema], schema)["properties"], schema)
		for _, p := range props {
			assert.Containsf(t, ps, p, "%s.%s", schema, p)
		}
	}
}

// goDiscoveryDocument mirrors the field types of the Go SDK's
// arvados.DiscoveryDocument, so decoding fails where the SDK's would.
type goDiscoveryDocument struct {
	BasePath                     string `json:"basePath"`
	DefaultCollectionReplication int    `json:"defaultCollectionReplication"`
	BlobSignatureTTL             int64  `json:"blobSignatureTtl"`
	GitURL                       string `json:"gitUrl"`
	Schemas                      map[string]struct {
		UUIDPrefix string `json:"uuidPrefix"`
	} `json:"schemas"`
	Resources map[string]struct {
		Methods map[string]struct {
			HTTPMethod string `json:"httpMethod"`
			Path       string `json:"path"`
			Response   struct {
				Ref string `json:"$ref"`
			} `json:"response"`
		} `json:"methods"`
	} `json:"resources"`
	Revision string `json:"revision"`
}

// TestGoSDKShape decodes the document as the Go SDK does and resolves
// uuids to API paths the way arvados.Client.PathForUUID does (what
// "arvados-client get" and the websocket server rely on).
func TestGoSDKShape(t *testing.T) {
	b, err := Document(testParams())
	require.NoError(t, err)
	var dd goDiscoveryDocument
	require.NoError(t, json.Unmarshal(b, &dd))
	assert.Equal(t, 2, dd.DefaultCollectionReplication)
	assert.Equal(t, int64(1209600), dd.BlobSignatureTTL)
	assert.Equal(t, "20261202", dd.Revision)

	pathFor := func(uuid string) string {
		model := ""
		if strings.Contains(uuid, "+") {
			model = "Collection"
		} else {
			for name, s := range dd.Schemas {
				if s.UUIDPrefix == uuid[6:11] {
					model = name
				}
			}
		}
		for _, r := range dd.Resources {
			if r.Methods["get"].Response.Ref == model && model != "" {
				return strings.TrimPrefix(dd.BasePath+strings.ReplaceAll(r.Methods["get"].Path, "{uuid}", uuid), "/")
			}
		}
		return ""
	}
	for uuid, want := range map[string]string{
		"zzzzz-4zz18-0123456789abcde":        "arvados/v1/collections/zzzzz-4zz18-0123456789abcde",
		"d41d8cd98f00b204e9800998ecf8427e+0": "arvados/v1/collections/d41d8cd98f00b204e9800998ecf8427e+0",
		"zzzzz-j7d0g-0123456789abcde":        "arvados/v1/groups/zzzzz-j7d0g-0123456789abcde",
		"zzzzz-tpzed-0123456789abcde":        "arvados/v1/users/zzzzz-tpzed-0123456789abcde",
		"zzzzz-7fd4e-0123456789abcde":        "arvados/v1/workflows/zzzzz-7fd4e-0123456789abcde",
		"zzzzz-o0j2j-0123456789abcde":        "arvados/v1/links/zzzzz-o0j2j-0123456789abcde",
		"zzzzz-gj3su-0123456789abcde":        "arvados/v1/api_client_authorizations/zzzzz-gj3su-0123456789abcde",
		"zzzzz-bi6l4-0123456789abcde":        "arvados/v1/keep_services/zzzzz-bi6l4-0123456789abcde",
	} {
		assert.Equal(t, want, pathFor(uuid), uuid)
	}

	// arvadosclient.Discovery + keepclient.New: a generic map, then
	// value.(float64).
	var generic map[string]any
	require.NoError(t, json.Unmarshal(b, &generic))
	for _, key := range []string{"defaultCollectionReplication", "blobSignatureTtl"} {
		_, ok := generic[key].(float64)
		assert.Truef(t, ok, "%s is %T", key, generic[key])
	}
}

// TestPythonSDKShape checks the keys the Python SDK and its tools read from
// the document themselves (api._rootDesc), with their types.
func TestPythonSDKShape(t *testing.T) {
	b, err := Document(testParams())
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(b, &d))
	assert.IsType(t, float64(0), d["maxRequestSize"])               // http.max_request_size
	assert.IsType(t, float64(0), d["defaultCollectionReplication"]) // Collection.save_new
	assert.IsType(t, float64(0), d["blobSignatureTtl"])             // FUSE poll time, ttl // 2
	assert.IsType(t, "", d["uuidPrefix"])                           // Collection, arv-copy, CWL
	assert.IsType(t, "", d["revision"])                             // CWL compares it to "YYYYMMDD"
	assert.IsType(t, "", d["rootUrl"])                              // arv-copy takes its host
	assert.IsType(t, map[string]any{}, d["remoteHosts"])            // CWL: `in` and .keys()
	assert.Equal(t, "", d["websocketUrl"])                          // empty: events fall back to polling
	res := d["resources"].(map[string]any)
	// util.get_config_once / get_vocabulary_once look for these resources.
	assert.Contains(t, res, "configs")
	assert.Contains(t, res, "vocabularies")
	// The FUSE client uses groups.shared when the document offers it;
	// keepfed does not serve it, so it must not be offered.
	assert.NotContains(t, res["groups"].(map[string]any)["methods"], "shared")
}

func TestDocumentDeterministic(t *testing.T) {
	a, err := Document(testParams())
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		b, err := Document(testParams())
		require.NoError(t, err)
		require.Equal(t, a, b)
	}
}

func TestDocumentRootURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://127.0.0.1:9002", "https://127.0.0.1:9002/"},
		{"https://127.0.0.1:9002/", "https://127.0.0.1:9002/"},
		{"  http://keepfed.example  ", "http://keepfed.example/"},
		{"HTTPS://keepfed.example//", "https://keepfed.example/"},
		{"https://[::1]:9002", "https://[::1]:9002/"},
	} {
		p := testParams()
		p.ExternalURL = tc.in
		b, err := Document(p)
		require.NoError(t, err, tc.in)
		d := decode(t, b)
		assert.Equal(t, tc.want, d["rootUrl"], tc.in)
		assert.Equal(t, tc.want+"arvados/v1/", d["baseUrl"], tc.in)
	}
}

func TestDocumentRemoteHosts(t *testing.T) {
	p := testParams()
	p.RemoteHosts = nil
	b, err := Document(p)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{}, decode(t, b)["remoteHosts"], "an object even when there are none")
}

func TestDocumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Params)
	}{
		{"short cluster id", func(p *Params) { p.ClusterID = "zzzz" }},
		{"upper-case cluster id", func(p *Params) { p.ClusterID = "ZZZZZ" }},
		{"no url", func(p *Params) { p.ExternalURL = "" }},
		{"no scheme", func(p *Params) { p.ExternalURL = "127.0.0.1:9002" }},
		{"ftp", func(p *Params) { p.ExternalURL = "ftp://h/" }},
		{"path", func(p *Params) { p.ExternalURL = "https://h/prefix" }},
		{"query", func(p *Params) { p.ExternalURL = "https://h/?a=b" }},
		{"user", func(p *Params) { p.ExternalURL = "https://u:p@h/" }},
		{"bad url", func(p *Params) { p.ExternalURL = "https://h:port/" }},
		{"replication 0", func(p *Params) { p.DefaultReplication = 0 }},
		{"ttl 0", func(p *Params) { p.BlobSignatureTTL = 0 }},
		{"ttl under a second", func(p *Params) { p.BlobSignatureTTL = time.Millisecond }},
		{"negative request size", func(p *Params) { p.MaxRequestSize = -1 }},
		{"no revision", func(p *Params) { p.Revision = "" }},
		{"short revision", func(p *Params) { p.Revision = "2026120" }},
		{"non-date revision", func(p *Params) { p.Revision = "20261399" }},
		{"bad remote id", func(p *Params) { p.RemoteHosts = map[string]string{"toolong": "h"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams()
			tc.edit(&p)
			b, err := Document(p)
			assert.Error(t, err)
			assert.Nil(t, b)
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "discovery: "), err.Error())
			}
		})
	}
}
