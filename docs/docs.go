// Package docs embeds the API's OpenAPI document so the binary serves the
// very file that is reviewed and tested.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AdminOpenAPI is docs/admin-openapi.yaml, the admin listener's document.
//
//go:embed admin-openapi.yaml
var AdminOpenAPI []byte
