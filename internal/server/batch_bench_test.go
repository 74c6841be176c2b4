package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

// BenchmarkBatchHandler is the server's own cost of the load test's batch
// (decode, four operations on four primitives, encode) on an in-memory
// database: no network, no fsync, so allocations and CPU per request show
// without the noise of a shared machine.
func BenchmarkBatchHandler(b *testing.B) {
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	h := New(db, Config{NoMCP: true}).Handler()
	run := inmem.NewRunID()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		body := fmt.Sprintf(`{"run":"%s","ops":[{"op":"kv.put","key":"n/%d","value":{"i":%d,"pad":"0123456789abcdef0123456789abcdef"}},`+
			`{"op":"event.append","type":"step","value":%d},{"op":"state.set","key":"progress","value":%d},`+
			`{"op":"json.merge","key":"doc","value":{"last":%d}}]}`, run, i, i, i, i, i)
		i++
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/batch", strings.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
