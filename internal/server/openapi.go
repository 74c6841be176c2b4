package server

import _ "embed"

// openAPIDoc describes the resource API; TestOpenAPIMatchesRoutes keeps it
// and the route table in step.
//
//go:embed openapi.json
var openAPIDoc []byte
