package server

import (
	"context"
	"net/http"
)

func (s *Server) mcpHTTPHandler() http.Handler { return http.NotFoundHandler() }

// ServeMCPStdio serves MCP on stdin/stdout until ctx ends.
func (s *Server) ServeMCPStdio(ctx context.Context) error { return nil }
