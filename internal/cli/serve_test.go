//go:build unix

package cli

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func toolCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asToolEnv+"=1")
	return cmd
}

// TestServeStopsCleanlyOnSIGTERM runs `inmem serve` as a process, writes
// through it with a change feed open, sends SIGTERM, and expects exit 0 and
// the write in the directory.
func TestServeStopsCleanlyOnSIGTERM(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	cmd := toolCmd("serve", dir, "--addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	req, _ := http.NewRequest("PUT", url+"/v1/runs/global/kv/k", strings.NewReader(`{"value":"kept"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("put: %d", resp.StatusCode)
	}
	feed, err := http.Get(url + "/v1/runs/global/events?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.KV().Get(ctx, inmem.GlobalRun, "k")
	if err != nil || v.Value != inmem.String("kept") {
		t.Fatalf("after restart: %v %v", v, err)
	}
}

func TestServeRefusesOpenAddressWithoutToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	_, stderr := mustRun(t, ExitUsage, "serve", dir, "--addr", "0.0.0.0:0")
	if !strings.Contains(stderr, "--token-file") {
		t.Fatalf("stderr %q", stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused serve created the directory: %v", err)
	}
}

// TestMCPOverStdio starts `inmem mcp` the way the README's client
// configuration does and talks to it with the SDK's client.
func TestMCPOverStdio(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```json\n(\\{\"mcpServers\".*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README has no MCP client configuration")
	}
	var conf struct {
		MCPServers map[string]struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal(block[1], &conf); err != nil {
		t.Fatalf("README's MCP configuration: %v", err)
	}
	entry := conf.MCPServers["inmem"]
	if entry.Command != "inmem" || len(entry.Args) != 2 || entry.Args[0] != "mcp" {
		t.Fatalf("README's MCP configuration: %+v", entry)
	}

	dir := filepath.Join(t.TempDir(), "db")
	cmd := toolCmd("mcp", dir)
	cmd.Stderr = os.Stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "kv_remember", Arguments: map[string]any{"key": "fact", "value": "the sky is blue"}})
	if err != nil || res.IsError {
		t.Fatalf("kv_remember: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "kv_recall", Arguments: map[string]any{"key": "fact"}})
	if err != nil || res.IsError {
		t.Fatalf("kv_recall: %v %+v", err, res)
	}
	if got := res.StructuredContent.(map[string]any)["value"]; got != "the sky is blue" {
		t.Fatalf("recalled %v", got)
	}
	if err := cs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen after the MCP server exited: %v", err)
	}
	defer db.Close()
	if v, err := db.KV().Get(ctx, inmem.GlobalRun, "fact"); err != nil || v.Value != inmem.String("the sky is blue") {
		t.Fatalf("after restart: %v %v", v, err)
	}
}
