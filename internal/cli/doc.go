// Package cli implements the inmem command-line tool: data on stdout,
// progress and logs on stderr, -o table|json|ndjson, and exit codes 0 (ok),
// 1 (error), 2 (usage) and 3 (integrity failure).
package cli
