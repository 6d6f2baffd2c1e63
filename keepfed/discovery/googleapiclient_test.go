package discovery

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// googleAPIPython returns a Python interpreter that can import
// googleapiclient and httplib2, or "".
func googleAPIPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = exec.CommandContext(ctx, path, "-c", "import googleapiclient.discovery, httplib2").Run()
		cancel()
		if err == nil {
			return path
		}
	}
	return ""
}

type pyRequest struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Query       map[string]string `json:"query"`
	Body        map[string]any    `json:"body"`
	RawResponse bool              `json:"raw_response"`
}

// TestGoogleAPIClient hands the document to the real googleapiclient (the
// library the Python SDK is built on) when a Python with it is installed,
// and checks the requests SDK-style calls turn into. It is skipped
// elsewhere; the other tests check the same rules without Python.
func TestGoogleAPIClient(t *testing.T) {
	py := googleAPIPython(t)
	if py == "" {
		t.Skip("no python3 with googleapiclient and httplib2")
	}
	b, err := Document(testParams())
	require.NoError(t, err)
	doc := filepath.Join(t.TempDir(), "rest.json")
	require.NoError(t, os.WriteFile(doc, b, 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, filepath.Join("testdata", "googleapiclient_check.py"), doc).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Logf("stderr: %s", ee.Stderr)
	}
	require.NoError(t, err)

	var got struct {
		Requests map[string]pyRequest `json:"requests"`
		Errors   map[string]string    `json:"errors"`
		Refused  map[string]string    `json:"refused"`
		Methods  []string             `json:"methods"`
	}
	require.NoError(t, json.Unmarshal(out, &got), string(out))
	assert.Empty(t, got.Errors)

	var want []string
	for _, m := range wantMethods {
		want = append(want, m.resource+"."+m.method)
	}
	sort.Strings(want)
	assert.Equal(t, want, got.Methods)

	for name, msg := range got.Refused {
		assert.NotEmptyf(t, msg, "googleapiclient let %s through", name)
	}

	for name, r := range got.Requests {
		assert.Equalf(t, "json", r.Query["alt"], "%s sends alt=json", name)
		assert.Falsef(t, r.RawResponse, "%s: the response would not be decoded", name)
	}
	for _, tc := range []struct {
		name, method, path string
		query              map[string]string
		body               map[string]any
	}{
		{"collections.get.pdh", "GET", "/arvados/v1/collections/d41d8cd98f00b204e9800998ecf8427e%2B0", nil, nil},
		{"collections.list", "GET", "/arvados/v1/collections", map[string]string{
			"filters": `[["name", "=", "x"]]`, "order": `["uuid asc"]`, "select": `["uuid", "name"]`,
			"where": `{"name": "x"}`, "limit": "10", "offset": "0", "count": "none",
			"include_trash": "true", "include_old_versions": "false", "bypass_federation": "true",
			"cluster_id": "zzzzz", "distinct": "false",
		}, nil},
		{"collections.create", "POST", "/arvados/v1/collections", map[string]string{
			"ensure_unique_name": "true", "replace_files": `{"/a": "d41d8cd98f00b204e9800998ecf8427e+0/a"}`,
		}, map[string]any{"collection": map[string]any{"name": "x", "manifest_text": ""}}},
		{"collections.update", "PUT", "/arvados/v1/collections/zzzzz-4zz18-0123456789abcde", nil,
			map[string]any{"collection": map[string]any{"name": "y"}}},
		{"collections.delete", "DELETE", "/arvados/v1/collections/zzzzz-4zz18-0123456789abcde", nil, nil},
		{"groups.contents", "GET", "/arvados/v1/groups/contents", map[string]string{
			"uuid": "zzzzz-j7d0g-0123456789abcde", "recursive": "true", "include": `["owner_uuid"]`,
			"exclude_home_project": "true", "order": "uuid",
		}, nil},
		{"users.current", "GET", "/arvados/v1/users/current", nil, nil},
		{"api_client_authorizations.current", "GET", "/arvados/v1/api_client_authorizations/current", nil, nil},
		{"keep_services.accessible", "GET", "/arvados/v1/keep_services/accessible", nil, nil},
		{"configs.get", "GET", "/arvados/v1/config", nil, nil},
		{"vocabularies.get", "GET", "/arvados/v1/vocabulary", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := got.Requests[tc.name]
			require.True(t, ok)
			assert.Equal(t, tc.method, r.Method)
			assert.Equal(t, tc.path, r.Path)
			for k, v := range tc.query {
				assert.Equal(t, v, r.Query[k], k)
			}
			assert.Equal(t, tc.body, r.Body)
		})
	}
}
