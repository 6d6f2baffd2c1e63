package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Kind names a record type by its Arvados API path segment
// (/arvados/v1/<kind>).
type Kind string

// The record types the store keeps.
const (
	Users                   Kind = "users"
	APIClientAuthorizations Kind = "api_client_authorizations"
	Groups                  Kind = "groups"
	Links                   Kind = "links"
	Collections             Kind = "collections"
	Workflows               Kind = "workflows"
)

// Kinds lists every record type the store keeps.
var Kinds = []Kind{Users, APIClientAuthorizations, Groups, Links, Collections, Workflows}

// ParseKind accepts a path segment ("collections") or an Arvados kind
// ("arvados#collection") and returns the Kind.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		ki := kinds[k]
		if s == string(k) || s == ki.arvKind {
			return k, true
		}
	}
	return "", false
}

// KindOfUUID returns the record type a uuid's infix names, if the store
// keeps that type.
func KindOfUUID(uuid string) (Kind, bool) {
	if !isUUID(uuid) {
		return "", false
	}
	for _, k := range Kinds {
		if kinds[k].infix == uuid[6:11] {
			return k, true
		}
	}
	return "", false
}

// ArvadosKind returns the record's "kind" value, e.g. "arvados#collection".
func (k Kind) ArvadosKind() string { return kinds[k].arvKind }

// ListKind returns the "kind" of a list response, e.g. "arvados#collectionList".
func (k Kind) ListKind() string { return kinds[k].arvKind + "List" }

// Infix returns the uuid infix of the type, e.g. "4zz18".
func (k Kind) Infix() string { return kinds[k].infix }

// Singular returns the type's singular name, e.g. "collection": the
// name of the request parameter that holds a record's attributes.
func (k Kind) Singular() string { return k.singular() }

// HasAttribute reports whether name is an attribute of the type (one a
// client may send, or one the server maintains and clients send back).
func (k Kind) HasAttribute(name string) bool {
	ki := kinds[k]
	if ki == nil {
		return false
	}
	_, ok := ki.fields[name]
	return ok || ignoredInput[name]
}

func (k Kind) singular() string {
	if ki := kinds[k]; ki != nil {
		return ki.singular
	}
	return "record"
}

// fieldType says what values an attribute takes.
type fieldType uint8

const (
	fString     fieldType = iota // string (null is stored as "")
	fNullString                  // string or null
	fBool                        // true/false
	fTime                        // timestamp (TimeFormat) or null
	fObject                      // JSON object
	fStrings                     // array of strings
	fNullInt                     // integer or null
	fServer                      // maintained by the store; client values are ignored
)

// kindInfo describes one record type.
type kindInfo struct {
	kind     Kind
	arvKind  string
	infix    string
	singular string
	bucket   []byte
	fields   map[string]fieldType
	// defaults for a new record beyond the per-type zero values.
	defaults func() Record
}

// commonFields are in every record type.
var commonFields = map[string]fieldType{
	"uuid":                    fServer,
	"kind":                    fServer,
	"etag":                    fServer,
	"owner_uuid":              fString,
	"created_at":              fServer,
	"modified_at":             fServer,
	"modified_by_user_uuid":   fServer,
	"modified_by_client_uuid": fServer,
}

// ignoredInput are attribute names that clients send back with records
// they read; they are dropped from write requests without complaint.
var ignoredInput = map[string]bool{"kind": true, "etag": true, "href": true}

var kinds = map[Kind]*kindInfo{
	Users: {
		arvKind: "arvados#user", infix: "tpzed", singular: "user",
		fields: map[string]fieldType{
			"email": fString, "username": fNullString, "first_name": fString,
			"last_name": fString, "full_name": fServer, "is_admin": fBool,
			"is_active": fBool, "prefs": fObject, "identity_url": fNullString,
		},
	},
	APIClientAuthorizations: {
		arvKind: "arvados#apiClientAuthorization", infix: "gj3su", singular: "api_client_authorization",
		fields: map[string]fieldType{
			"api_token": fServer, "expires_at": fTime, "scopes": fStrings,
			"created_by_ip_address": fNullString, "last_used_at": fTime,
		},
		defaults: func() Record { return Record{"scopes": []any{"all"}} },
	},
	Groups: {
		arvKind: "arvados#group", infix: "j7d0g", singular: "group",
		fields: map[string]fieldType{
			"name": fString, "description": fNullString, "group_class": fNullString,
			"properties": fObject, "trash_at": fTime, "delete_at": fTime,
			"is_trashed": fBool,
		},
	},
	Links: {
		arvKind: "arvados#link", infix: "o0j2j", singular: "link",
		fields: map[string]fieldType{
			"link_class": fString, "name": fString, "tail_uuid": fString,
			"head_uuid": fString, "properties": fObject,
		},
	},
	Collections: {
		arvKind: "arvados#collection", infix: "4zz18", singular: "collection",
		fields: map[string]fieldType{
			"name": fNullString, "description": fNullString, "manifest_text": fString,
			"portable_data_hash": fString, "properties": fObject,
			"trash_at": fTime, "delete_at": fTime, "is_trashed": fBool,
			"replication_desired": fNullInt, "storage_classes_desired": fStrings,
			"file_count": fServer, "file_size_total": fServer,
		},
		defaults: func() Record { return Record{"storage_classes_desired": []any{"default"}} },
	},
	Workflows: {
		arvKind: "arvados#workflow", infix: "7fd4e", singular: "workflow",
		fields: map[string]fieldType{
			"name": fString, "description": fNullString, "definition": fNullString,
			"collection_uuid": fNullString,
		},
	},
}

func init() {
	for k, ki := range kinds {
		ki.kind = k
		ki.bucket = []byte(k)
		for f, t := range commonFields {
			ki.fields[f] = t
		}
	}
}

// kindOf returns the type's description or a 404 error for unknown types.
func kindOf(k Kind) (*kindInfo, error) {
	ki := kinds[k]
	if ki == nil {
		return nil, newError(404, "unknown record type %q", string(k))
	}
	return ki, nil
}

// newRecord returns a record of the type with every attribute at its
// default, so stored records always have the full Arvados shape.
func (ki *kindInfo) newRecord() Record {
	r := make(Record, len(ki.fields))
	for f, t := range ki.fields {
		switch t {
		case fString:
			r[f] = ""
		case fBool:
			r[f] = false
		case fObject:
			r[f] = map[string]any{}
		case fStrings:
			r[f] = []any{}
		default:
			r[f] = nil
		}
	}
	if ki.defaults != nil {
		for f, v := range ki.defaults() {
			r[f] = v
		}
	}
	return r
}

// normalize checks a client-supplied value against the attribute's type
// and returns it in the form JSON decoding produces (string, bool, float64,
// nil, map[string]any, []any), so records read back compare equal to the
// records written.
func normalize(ki *kindInfo, name string, t fieldType, v any) (any, error) {
	bad := func() error {
		return badRequest("invalid value for %s attribute %q: %v", ki.singular, name, shortValue(v))
	}
	switch t {
	case fString:
		switch v := v.(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		}
		return nil, bad()
	case fNullString:
		switch v := v.(type) {
		case nil:
			return nil, nil
		case string:
			return v, nil
		}
		return nil, bad()
	case fBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, bad()
	case fTime:
		switch v := v.(type) {
		case nil:
			return nil, nil
		case time.Time:
			return FormatTime(v), nil
		case *time.Time:
			if v == nil {
				return nil, nil
			}
			return FormatTime(*v), nil
		case string:
			if v == "" {
				return nil, nil
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, bad()
			}
			return FormatTime(t), nil
		}
		return nil, bad()
	case fObject:
		if v == nil {
			return map[string]any{}, nil
		}
		var out map[string]any
		if err := jsonRoundTrip(v, &out); err != nil || out == nil {
			return nil, bad()
		}
		return out, nil
	case fStrings:
		if v == nil {
			return []any{}, nil
		}
		var out []string
		if err := jsonRoundTrip(v, &out); err != nil {
			return nil, bad()
		}
		a := make([]any, len(out))
		for i, s := range out {
			a[i] = s
		}
		return a, nil
	case fNullInt:
		var f float64
		switch v := v.(type) {
		case nil:
			return nil, nil
		case int:
			f = float64(v)
		case int64:
			f = float64(v)
		case float64:
			f = v
		case json.Number:
			x, err := v.Float64()
			if err != nil {
				return nil, bad()
			}
			f = x
		default:
			return nil, bad()
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, bad()
		}
		return f, nil
	}
	return nil, fmt.Errorf("attribute %q: unhandled field type %d", name, t)
}

func jsonRoundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// shortValue renders v for an error message, cut to a sane length.
func shortValue(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
