package discovery

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testConfigParams() ConfigParams {
	return ConfigParams{
		ClusterID:            "zzzzz",
		ControllerURL:        "https://127.0.0.1:9002",
		KeepproxyURL:         "https://127.0.0.1:9002/",
		WebDAVURL:            "",
		DefaultReplication:   2,
		BlobSigningTTL:       336 * time.Hour,
		TrashSweepInterval:   60 * time.Second,
		CollectionVersioning: true,
		RemoteClusters: map[string]RemoteCluster{
			"aaaaa": {Host: "aaaaa.example:443", Proxy: true, ActivateUsers: true},
			"bbbbb": {Host: "127.0.0.1:9003", Scheme: "http", Insecure: true},
		},
		LoginCluster:        "aaaaa",
		MaxItemsPerResponse: 1000,
		MaxRequestSize:      128 << 20,
		Version:             "keepfed 1.2.3",
	}
}

func testConfig(t *testing.T) map[string]any {
	t.Helper()
	b, err := ExportedConfig(testConfigParams())
	require.NoError(t, err)
	return decode(t, b)
}

// at follows a dotted path through nested objects.
func at(t *testing.T, m map[string]any, path string) any {
	t.Helper()
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		require.Truef(t, ok, "%s: %q is under a %T", path, k, v)
		require.Containsf(t, o, k, "%s: no %q", path, k)
		v = o[k]
	}
	return v
}

func TestExportedConfigKeys(t *testing.T) {
	c := testConfig(t)
	for _, tc := range []struct {
		path string
		want any
	}{
		{"ClusterID", "zzzzz"},
		{"StorageClasses", map[string]any{"default": map[string]any{"Default": true, "Priority": json.Number("0")}}},
		{"Collections.BlobSigning", true},
		{"Collections.BlobSigningTTL", "336h"},
		{"Collections.CollectionVersioning", true},
		{"Collections.DefaultReplication", json.Number("2")},
		{"Collections.ForwardSlashNameSubstitution", ""},
		{"Collections.TrustAllContent", false},
		{"Collections.ManagedProperties", map[string]any{}},
		{"API.MaxItemsPerResponse", json.Number("1000")},
		{"API.MaxRequestSize", json.Number("134217728")},
		{"API.FreezeProjectRequiresProperties", map[string]any{}},
		{"Login.LoginCluster", "aaaaa"},
		{"Login.Google.Enable", false},
		{"Login.LDAP.Enable", false},
		{"Login.OpenIDConnect.Enable", false},
		{"Login.PAM.Enable", false},
		{"Login.Test.Enable", false},
		{"Services.Controller.ExternalURL", "https://127.0.0.1:9002/"},
		{"Services.Keepproxy.ExternalURL", "https://127.0.0.1:9002/"},
		{"Services.WebDAV.ExternalURL", ""},
		{"Services.WebDAVDownload.ExternalURL", ""},
		{"Services.Websocket.ExternalURL", ""},
		{"Services.Workbench1.ExternalURL", ""},
		{"Services.Workbench2.ExternalURL", ""},
		{"RemoteClusters.aaaaa", map[string]any{"Host": "aaaaa.example:443", "Scheme": "https", "Proxy": true, "Insecure": false, "ActivateUsers": true}},
		{"RemoteClusters.bbbbb", map[string]any{"Host": "127.0.0.1:9003", "Scheme": "http", "Proxy": false, "Insecure": true, "ActivateUsers": false}},
		{"Users.SupportEmailAddress", ""},
		{"Volumes", map[string]any{}},
		{"Containers", map[string]any{}},
		{"Workbench.SiteName", "keepfed zzzzz"},
		{"KeepFed.Version", "keepfed 1.2.3"},
		{"KeepFed.TrashSweepInterval", "1m"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			assert.Equal(t, tc.want, at(t, c, tc.path))
		})
	}
	assert.NotContains(t, at(t, c, "Collections"), "TrashSweepInterval", "Arvados does not export it")
}

// exportable lists the key paths Arvados's export whitelist lets out that
// keepfed may publish, "*" standing for any map key; KeepFed is keepfed's.
var exportable = []string{
	"ClusterID",
	"API", "API.FreezeProjectRequiresDescription", "API.FreezeProjectRequiresProperties",
	"API.MaxItemsPerResponse", "API.MaxRequestSize", "API.UnfreezeProjectRequiresAdmin",
	"Collections", "Collections.BlobSigning", "Collections.BlobSigningTTL", "Collections.CollectionVersioning",
	"Collections.DefaultReplication", "Collections.ForwardSlashNameSubstitution",
	"Collections.ManagedProperties", "Collections.TrustAllContent",
	"Containers", "InstanceTypes",
	"Login", "Login.Google", "Login.Google.Enable", "Login.LDAP", "Login.LDAP.Enable", "Login.LoginCluster",
	"Login.OpenIDConnect", "Login.OpenIDConnect.Enable", "Login.PAM", "Login.PAM.Enable", "Login.Test", "Login.Test.Enable",
	"RemoteClusters", "RemoteClusters.*", "RemoteClusters.*.ActivateUsers", "RemoteClusters.*.Host",
	"RemoteClusters.*.Insecure", "RemoteClusters.*.Proxy", "RemoteClusters.*.Scheme",
	"Services", "Services.*", "Services.*.ExternalURL",
	"StorageClasses", "StorageClasses.*", "StorageClasses.*.Default", "StorageClasses.*.Priority",
	"Users", "Users.SupportEmailAddress",
	"Volumes", "Workbench", "Workbench.SiteName",
	"KeepFed", "KeepFed.TrashSweepInterval", "KeepFed.Version",
}

// keyPaths lists every key path in m, with the keys of map-valued
// sections (RemoteClusters, Services, StorageClasses) as "*".
func keyPaths(m map[string]any, prefix string, out *[]string) {
	for k, v := range m {
		name := k
		switch prefix {
		case "RemoteClusters.", "Services.", "StorageClasses.":
			name = "*"
		}
		*out = append(*out, prefix+name)
		if o, ok := v.(map[string]any); ok {
			keyPaths(o, prefix+name+".", out)
		}
	}
}

func TestExportedConfigOnlyExportableKeys(t *testing.T) {
	allowed := map[string]bool{}
	for _, p := range exportable {
		allowed[p] = true
	}
	var paths []string
	keyPaths(testConfig(t), "", &paths)
	sort.Strings(paths)
	for _, p := range paths {
		assert.Truef(t, allowed[p], "%s is not an exported Arvados key", p)
	}
}

func TestExportedConfigNoSecrets(t *testing.T) {
	var walk func(string, any)
	walk = func(where string, v any) {
		o, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, x := range o {
			lk := strings.ToLower(k)
			for _, bad := range []string{"token", "key", "secret", "password"} {
				assert.NotContainsf(t, lk, bad, "%s%s looks like a secret", where, k)
			}
			walk(where+k+".", x)
		}
	}
	walk("", testConfig(t))
}

// goDuration and goURL behave like the Go SDK's arvados.Duration and
// arvados.URL when decoding.
type goDuration time.Duration

func (d *goDuration) UnmarshalJSON(b []byte) error {
	if string(b) == "0" || string(b) == `"0"` {
		*d = 0
		return nil
	}
	if len(b) == 0 || b[0] != '"' {
		return fmt.Errorf("missing unit in duration %s", b)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = goDuration(v)
	return err
}

type goURL url.URL

func (u *goURL) UnmarshalText(b []byte) error {
	p, err := url.Parse(string(b))
	if err == nil {
		*u = goURL(*p)
	}
	return err
}

type goService struct{ ExternalURL goURL }

// goCluster mirrors the field types of the parts of arvados.Cluster that
// arvados-client diagnostics decodes the exported config into.
type goCluster struct {
	API struct {
		MaxItemsPerResponse             int
		MaxRequestSize                  int
		FreezeProjectRequiresProperties map[string]struct{}
	}
	Collections struct {
		BlobSigning                  bool
		BlobSigningTTL               goDuration
		CollectionVersioning         bool
		DefaultReplication           int
		ForwardSlashNameSubstitution string
		TrustAllContent              bool
		ManagedProperties            map[string]struct {
			Value     any
			Function  string
			Protected bool
		}
	}
	Containers    struct{ DefaultKeepCacheRAM int64 }
	InstanceTypes map[string]struct{ Name string }
	Login         struct {
		LoginCluster                           string
		Google, LDAP, OpenIDConnect, PAM, Test struct{ Enable bool }
	}
	RemoteClusters map[string]struct {
		Host          string
		Proxy         bool
		Scheme        string
		Insecure      bool
		ActivateUsers bool
	}
	Services struct {
		Controller, Keepproxy, WebDAV, WebDAVDownload, Websocket, Workbench1, Workbench2 goService
	}
	StorageClasses map[string]struct {
		Default  bool
		Priority int
	}
	Users     struct{ SupportEmailAddress string }
	Volumes   map[string]struct{ Replication int }
	Workbench struct{ SiteName string }
}

func TestExportedConfigGoSDKShape(t *testing.T) {
	b, err := ExportedConfig(testConfigParams())
	require.NoError(t, err)
	var c goCluster
	require.NoError(t, json.Unmarshal(b, &c))
	assert.Equal(t, goDuration(336*time.Hour), c.Collections.BlobSigningTTL)
	assert.True(t, c.Collections.BlobSigning)
	assert.Equal(t, 2, c.Collections.DefaultReplication)
	u := url.URL(c.Services.Keepproxy.ExternalURL)
	// diagnostics appends a locator to it
	assert.Equal(t, "https://127.0.0.1:9002/d41d8cd98f00b204e9800998ecf8427e+0", u.String()+"d41d8cd98f00b204e9800998ecf8427e+0")

	// keepclient.loadDefaultClasses: StorageClasses must be an object of
	// objects with a boolean Default.
	var generic map[string]any
	require.NoError(t, json.Unmarshal(b, &generic))
	classes, ok := generic["StorageClasses"].(map[string]any)
	require.True(t, ok)
	var defaults []string
	for name, v := range classes {
		if def, _ := v.(map[string]any)["Default"].(bool); def {
			defaults = append(defaults, name)
		}
	}
	assert.Equal(t, []string{"default"}, defaults)
}

func TestExportedConfigEmpty(t *testing.T) {
	p := testConfigParams()
	p.RemoteClusters = nil
	p.LoginCluster = ""
	p.KeepproxyURL = ""
	p.WebDAVURL = "https://*.collections.example/"
	b, err := ExportedConfig(p)
	require.NoError(t, err)
	c := decode(t, b)
	assert.Equal(t, map[string]any{}, at(t, c, "RemoteClusters"))
	assert.Equal(t, "", at(t, c, "Login.LoginCluster"))
	assert.Equal(t, "", at(t, c, "Services.Keepproxy.ExternalURL"))
	assert.Equal(t, "https://*.collections.example/", at(t, c, "Services.WebDAV.ExternalURL"))
	assert.Equal(t, "https://*.collections.example/", at(t, c, "Services.WebDAVDownload.ExternalURL"))
}

func TestExportedConfigDeterministic(t *testing.T) {
	a, err := ExportedConfig(testConfigParams())
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		b, err := ExportedConfig(testConfigParams())
		require.NoError(t, err)
		require.Equal(t, a, b)
	}
}

func TestExportedConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*ConfigParams)
	}{
		{"bad cluster id", func(p *ConfigParams) { p.ClusterID = "zz" }},
		{"no controller", func(p *ConfigParams) { p.ControllerURL = "" }},
		{"controller without host", func(p *ConfigParams) { p.ControllerURL = "https:///x" }},
		{"keepproxy without scheme", func(p *ConfigParams) { p.KeepproxyURL = "127.0.0.1:9002" }},
		{"bad webdav", func(p *ConfigParams) { p.WebDAVURL = "https://h:port/" }},
		{"replication 0", func(p *ConfigParams) { p.DefaultReplication = 0 }},
		{"ttl 0", func(p *ConfigParams) { p.BlobSigningTTL = 0 }},
		{"negative sweep", func(p *ConfigParams) { p.TrashSweepInterval = -time.Second }},
		{"negative max items", func(p *ConfigParams) { p.MaxItemsPerResponse = -1 }},
		{"negative request size", func(p *ConfigParams) { p.MaxRequestSize = -1 }},
		{"bad login cluster", func(p *ConfigParams) { p.LoginCluster = "AAAAA" }},
		{"bad remote id", func(p *ConfigParams) { p.RemoteClusters = map[string]RemoteCluster{"x": {Host: "h"}} }},
		{"bad remote scheme", func(p *ConfigParams) {
			p.RemoteClusters = map[string]RemoteCluster{"ccccc": {Host: "h", Scheme: "ftp"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testConfigParams()
			tc.edit(&p)
			b, err := ExportedConfig(p)
			assert.Error(t, err)
			assert.Nil(t, b)
		})
	}
	p := testConfigParams()
	p.RemoteClusters = map[string]RemoteCluster{"*": {Proxy: true}}
	_, err := ExportedConfig(p)
	assert.NoError(t, err, `a "*" entry is allowed`)
}

func TestArvadosDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{336 * time.Hour, "336h"},
		{2 * time.Hour, "2h"},
		{90 * time.Minute, "1h30m"},
		{5 * time.Minute, "5m"},
		{2*time.Hour + 30*time.Second, "2h30s"},
		{1500 * time.Millisecond, "1.5s"},
		{0, "0s"},
	} {
		got := arvadosDuration(tc.in)
		assert.Equal(t, tc.want, got, tc.in.String())
		back, err := time.ParseDuration(got)
		require.NoError(t, err)
		assert.Equal(t, tc.in, back)
	}
}

func TestServiceURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"https://h:9002", "https://h:9002/"},
		{"https://h:9002/", "https://h:9002/"},
		{"https://h/keep/", "https://h/keep/"},
		{"wss://ws.example/websocket", "wss://ws.example/websocket"},
	} {
		got, err := serviceURL(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestVocabulary(t *testing.T) {
	v := Vocabulary()
	var got struct {
		StrictTags *bool          `json:"strict_tags"`
		Tags       map[string]any `json:"tags"`
	}
	require.NoError(t, json.Unmarshal(v, &got))
	require.NotNil(t, got.StrictTags)
	assert.False(t, *got.StrictTags)
	assert.NotNil(t, got.Tags)
	assert.Empty(t, got.Tags)

	v[0] = 'x'
	assert.Equal(t, byte('{'), Vocabulary()[0], "each call returns its own copy")
}
