// Package docs embeds the API's OpenAPI document so the binary serves the
// very file that is reviewed and tested.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
